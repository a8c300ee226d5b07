"""Llama-family decoding: einformer's ``Llama`` against transformers' ``LlamaForCausalLM.generate``.

Same process, same random weights (a model transformers saves, read through einformer's key map),
same prompts; greedy tokens are checked identical first. Each case runs the two sides in
interleaved rounds and prints the median of the per-round ratios of tokens per second (above 1:
einformer is faster).

    python bench/llama.py [--layers 8 --d-model 512 --heads 8 --kv-heads 2 --vocab 32000 --new 64]
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


def case(name: str, ours, theirs, ids: torch.Tensor, kw: dict, rounds: int, new: int) -> None:
    times = []
    with torch.no_grad():
        ours.generate(ids, **kw)
        theirs.generate(ids, pad_token_id=0, **kw)
        for _ in range(rounds):
            start = time.perf_counter()
            ours.generate(ids, **kw)
            a = time.perf_counter() - start
            start = time.perf_counter()
            theirs.generate(ids, pad_token_id=0, **kw)
            times.append((a, time.perf_counter() - start))
    tokens = ids.shape[0] * new
    ratio = statistics.median(b / a for a, b in times)
    a, b = (statistics.median(t[i] for t in times) for i in (0, 1))
    print(f"{name:<24} einformer {tokens / a:8.1f} tok/s   transformers {tokens / b:8.1f} tok/s   ratio={ratio:.2f}")


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
    args = p.parse_args()
    ours, theirs = build(args)
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
    case("greedy, batch 1", ours, theirs, one, greedy, args.rounds, args.new)
    case("greedy, batch 8", ours, theirs, eight, greedy, args.rounds, args.new)
    long = torch.randint(3, args.vocab, (1, 256), generator=g)
    prefill = dict(max_new_tokens=1, min_new_tokens=1, do_sample=False)
    case("prefill 256 (1 new)", ours, theirs, long, prefill, args.rounds, 1)


if __name__ == "__main__":
    main()
