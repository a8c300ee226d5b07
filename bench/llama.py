"""Llama-family decoding: einformer's ``Llama`` against transformers' ``LlamaForCausalLM.generate``.

Same process, same random weights (a model transformers saves, read through einformer's key map),
same prompts; greedy tokens are checked identical first. Each case runs the two sides in
interleaved rounds and prints the median of the per-round ratios of tokens per second (above 1:
einformer is faster).

The issue's goal is relative: Llama ahead of transformers by at least as much as our GPT is ahead of
GPT-2. ``--reference`` therefore also builds a GPT-2 of the same depth, width, heads and vocabulary and
runs its cases in the same rounds (Llama ours, Llama theirs, GPT ours, GPT-2 theirs), and prints the
median of the per-round quotient of the two ratios (at least 1: the Llama lead is as large as GPT's).
A decoding step streams every weight matrix once, so each decoding case also prints the quotient our
two models would reach at equal efficiency, with times in proportion to the bytes they stream (the
Llama's SwiGLU feed-forward has 1.5x GPT's weights): transformers' two times, measured, times that
proportion.

    python bench/llama.py [--layers 8 --d-model 512 --heads 8 --kv-heads 2 --vocab 32000 --new 64]
    python bench/llama.py --reference      # the same cases for GPT against GPT-2, in the same rounds
    python bench/processes.py 3 python bench/llama.py --reference   # medians over 3 fresh processes
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from einformer.interop.llama import load_hf_llama
from einformer.models.llama import Llama


def build(args):
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=args.vocab, hidden_size=args.d_model, intermediate_size=args.d_ff or 4 * args.d_model,
        num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
        max_position_embeddings=args.prompt + args.new + 8, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    theirs = transformers.LlamaForCausalLM(config).eval()
    with tempfile.TemporaryDirectory() as d:
        theirs.save_pretrained(d)
        ours = load_hf_llama(Llama, d).eval()
    return ours, theirs


def build_gpt(args):
    """A GPT-2 of the Llama's depth, width, heads and vocabulary, read into einformer's GPT."""
    import transformers

    from einformer import GPT

    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=args.vocab, n_positions=args.prompt + 256 + 8, n_embd=args.d_model, n_layer=args.layers,
        n_head=args.heads, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    theirs = transformers.GPT2LMHeadModel(config).eval()
    with tempfile.TemporaryDirectory() as d:
        theirs.save_pretrained(d)
        ours = GPT.from_pretrained(d).eval()
    return ours, theirs


def timed(model, ids: torch.Tensor, kw: dict, **extra) -> float:
    start = time.perf_counter()
    model.generate(ids, **kw, **extra)
    return time.perf_counter() - start


def case(name: str, pairs: list, ids: torch.Tensor, kw: dict, rounds: int, new: int) -> None:
    """``pairs``: [(label, ours, theirs)], run in turn within each round; prints each pair's ratio and,
    for two pairs, the median per-round quotient of the first ratio over the second."""
    times = [[] for _ in pairs]
    with torch.no_grad():
        for _, ours, theirs in pairs:  # warm-up
            timed(ours, ids, kw)
            timed(theirs, ids, kw, pad_token_id=0)
        for _ in range(rounds):
            for i, (_, ours, theirs) in enumerate(pairs):
                times[i].append((timed(ours, ids, kw), timed(theirs, ids, kw, pad_token_id=0)))
    tokens = ids.shape[0] * new
    for (label, _, _), pair_times in zip(pairs, times, strict=True):
        ratio = statistics.median(b / a for a, b in pair_times)
        a, b = (statistics.median(t[i] for t in pair_times) for i in (0, 1))
        print(
            f"{name + ', ' + label:<30} einformer {tokens / a:8.1f} tok/s   "
            f"transformers {tokens / b:8.1f} tok/s   ratio={ratio:.2f}"
        )
    if len(pairs) == 2:
        quotient = statistics.median((b1 / a1) / (b2 / a2) for (a1, b1), (a2, b2) in zip(*times, strict=True))
        print(f"{name + ', Llama lead / GPT lead':<34}  ratio={quotient:.2f} (median of per-round quotients)")
        if new > 1:  # decoding streams every weight once a step: the lead each model's bytes allow
            llama, gpt = (streamed_bytes(ours) for _, ours, _ in pairs)
            bound = statistics.median((b1 / b2) * (gpt / llama) for (_, b1), (_, b2) in zip(*times, strict=True))
            print(
                f"{name + ', at equal efficiency':<34}  ratio={bound:.2f} (the quotient if our two models took time in "
                f"proportion to the weights a step streams: Llama {llama / 1e6:.0f} MB, GPT {gpt / 1e6:.0f} MB)"
            )


def streamed_bytes(model) -> int:
    """Bytes of the matrices a decoded token multiplies by (every linear layer, the logits' included;
    the embedding is a lookup of one row per token)."""
    return sum(m.weight.numel() * m.weight.element_size() for m in model.modules() if isinstance(m, torch.nn.Linear))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--d-model", type=int, default=512)
    p.add_argument("--d-ff", type=int, default=None)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--prompt", type=int, default=16)
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--reference", action="store_true", help="also run GPT against GPT-2 of the same shape")
    args = p.parse_args()
    ours, theirs = build(args)
    pairs = [("Llama", ours, theirs)]
    g = torch.Generator().manual_seed(0)
    one = torch.randint(3, args.vocab, (1, args.prompt), generator=g)
    eight = torch.randint(3, args.vocab, (8, args.prompt), generator=g)
    greedy = dict(max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False)
    with torch.no_grad():
        assert ours.generate(eight, **greedy).tolist() == theirs.generate(eight, pad_token_id=0, **greedy).tolist()
    print(
        f"Llama {args.layers} layers, {args.d_model} wide, {args.heads} query / {args.kv_heads} key-value heads, "
        f"vocab {args.vocab} ({ours.num_parameters() / 1e6:.0f}M); prompt {args.prompt}, {args.new} new tokens; "
        f"fp32 CPU, {torch.get_num_threads()} threads; greedy tokens checked identical"
    )
    if args.reference:
        gpt, gpt2 = build_gpt(args)
        with torch.no_grad():
            assert gpt.generate(eight, **greedy).tolist() == gpt2.generate(eight, pad_token_id=0, **greedy).tolist()
        print(f"reference: GPT-2 of the same shape ({gpt.num_parameters() / 1e6:.0f}M), greedy tokens identical")
        pairs.append(("GPT", gpt, gpt2))
    case("greedy, batch 1", pairs, one, greedy, args.rounds, args.new)
    case("greedy, batch 8", pairs, eight, greedy, args.rounds, args.new)
    long = torch.randint(3, args.vocab, (1, 256), generator=g)
    prefill = dict(max_new_tokens=1, min_new_tokens=1, do_sample=False)
    case("prefill 256 (1 new)", pairs, long, prefill, args.rounds, 1)


if __name__ == "__main__":
    main()
