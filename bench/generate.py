"""Generation speed: einformer's generate() against Hugging Face transformers' generate().

Same process, same weights (a GPT2LMHeadModel loaded into einformer's GPT), same prompts; greedy
outputs are checked to be identical first. Each case runs ours and theirs alternately; the ratio
is the median of per-run ratios of new tokens per second (above 1 = einformer is faster).

    python bench/generate.py [--layers 6 --d-model 384 --heads 6 --vocab 8192 --prompt 16 --new 128]
    python bench/generate.py --sweep     # prompts of 16, 256 and 768 tokens: 64 new, and the prompt pass alone

It also prints einformer's batch-1 greedy step (the time per token after the prompt, from runs of
1 and ``--new`` tokens) against the weight floor: the bare chain of one row through every weight
matrix, below which no exact fp32 decode step can go.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from einformer import GPT


def build(args):
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=args.vocab,
        n_positions=args.prompt + args.new + 8,
        n_embd=args.d_model,
        n_layer=args.layers,
        n_head=args.heads,
        bos_token_id=0,
        eos_token_id=0,
    )
    theirs = transformers.GPT2LMHeadModel(config).eval()
    with tempfile.TemporaryDirectory() as d:
        theirs.save_pretrained(d)
        ours = GPT.from_pretrained(d).eval()
    return ours, theirs


def weight_floor_ms(ours, repeats: int = 200) -> float:
    """ms per token of the bare chain of one row through every weight matrix (packed and fused, as
    decoding runs them): the cost of streaming the weights, below which no exact fp32 decode step can go."""
    from einformer.nn.packed import prepare_for_inference

    prepare_for_inference(ours, rows=1)
    layers = []
    for block in ours.blocks:
        layers += [block.attn.fused, block.attn.out_proj, *(m for m in block.ffn.children() if hasattr(m, "weight"))]
    layers.append(ours.lm_head)
    widths = [m.linears[0].in_features if hasattr(m, "linears") else m.in_features for m in layers]
    inputs = [torch.randn(1, w) for w in widths]
    with torch.no_grad():
        for _ in range(10):
            for m, x in zip(layers, inputs, strict=True):
                m(x)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(repeats // 5):
                for m, x in zip(layers, inputs, strict=True):
                    m(x)
            times.append((time.perf_counter() - start) / (repeats // 5))
    return statistics.median(times) * 1e3


def step_ms(ours, ids, new: int, repeats: int) -> float:
    """einformer's ms per generated token after the prompt: (time(new) - time(1)) / (new - 1), medians."""

    def best(n):
        kw = dict(max_new_tokens=n, min_new_tokens=n, do_sample=False)
        times = []
        for i in range(repeats + 1):
            start = time.perf_counter()
            with torch.no_grad():
                ours.generate(ids, **kw)
            if i:
                times.append(time.perf_counter() - start)
        return statistics.median(times)

    return (best(new) - best(1)) / (new - 1) * 1e3


def sweep(ours, theirs, vocab: int, repeats: int) -> None:
    """Greedy batch 1 with 64 new tokens after prompts of 16, 256 and 768 tokens, and the prompt pass alone."""
    g = torch.Generator().manual_seed(1)
    for length in (16, 256, 768):
        ids = torch.randint(1, vocab, (1, length), generator=g)
        for new in (64, 1):
            kw = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False)
            label = f"prompt {length}, {new} new" if new > 1 else f"prompt {length}, prefill (1 new)"
            run_case(label, ours, theirs, ids, kw, repeats, new)


def run_case(name, ours, theirs, ids, kw, repeats, new):
    """Alternate ours/theirs; report median tokens/s of each and the median per-pair ratio."""
    t_ours, t_theirs = [], []
    hf_kw = dict(kw)
    if "seed" in hf_kw:
        hf_kw.pop("seed")
    for i in range(repeats + 1):
        start = time.perf_counter()
        with torch.no_grad():
            ours.generate(ids, **kw)
        a = time.perf_counter() - start
        if "seed" in kw:
            torch.manual_seed(kw["seed"])
        start = time.perf_counter()
        with torch.no_grad():
            theirs.generate(ids, pad_token_id=0, **hf_kw)
        b = time.perf_counter() - start
        if i:  # the first run is warm-up
            t_ours.append(a)
            t_theirs.append(b)
    tokens = ids.shape[0] * new * kw.get("num_beams", 1) ** 0  # new tokens returned per call
    ratio = statistics.median(b / a for a, b in zip(t_ours, t_theirs, strict=True))
    print(
        f"{name:<26} einformer {tokens / statistics.median(t_ours):8.1f} tok/s   transformers "
        f"{tokens / statistics.median(t_theirs):8.1f} tok/s   ratio={ratio:.2f}"
    )
    return statistics.median(t_theirs) / tokens * 1e3  # transformers' ms per token


def seq2seq_case(name, model, src, mask, num_beams, repeats):
    """The encoder-decoder (the demo preset): prepared modules (packed, fused q/k/v) against the plain
    ones, in the same loops (greedy or beam search) with the same weights; tokens checked equal."""
    from einformer.generation import decoders
    from einformer.generation.search import beam_search, greedy_search

    def decode(fast):
        prompt, state = decoders.start(model, src, mask, "dynamic", 1 + 64, fast=fast)
        loop = dict(max_new_tokens=64, eos_token_id=[-1], pad_token_id=0)  # no EOS: 64 tokens every time
        if num_beams > 1:
            return beam_search(state, prompt, num_beams=num_beams, **loop).sequences
        return greedy_search(state, prompt, **loop)

    with torch.no_grad():
        assert torch.equal(decode(True), decode(False)), "prepared modules must give the plain modules' tokens"
        times = {True: [], False: []}
        for i in range(repeats + 1):
            for fast in (True, False):
                start = time.perf_counter()
                decode(fast)
                if i:
                    times[fast].append(time.perf_counter() - start)
    ratio = statistics.median(b / a for a, b in zip(times[True], times[False], strict=True))
    tokens = src.shape[0] * 64
    print(
        f"{name:<26} prepared {tokens / statistics.median(times[True]):8.1f} tok/s   plain modules "
        f"{tokens / statistics.median(times[False]):8.1f} tok/s   ratio={ratio:.2f}"
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--d-model", type=int, default=384)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--prompt", type=int, default=16)
    p.add_argument("--new", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sweep", action="store_true", help="the prompt-length sweep (16, 256, 768) only")
    args = p.parse_args()
    if args.sweep:
        args.prompt, args.new = 768, 64  # room for the longest prompt
    ours, theirs = build(args)
    if args.sweep:
        print(
            f"GPT {args.layers} x {args.d_model}, vocab {args.vocab}; greedy batch 1; fp32 CPU, "
            f"{torch.get_num_threads()} threads"
        )
        sweep(ours, theirs, args.vocab, args.repeats)
        return
    g = torch.Generator().manual_seed(0)
    one = torch.randint(1, args.vocab, (1, args.prompt), generator=g)
    eight = torch.randint(1, args.vocab, (8, args.prompt), generator=g)
    greedy = dict(max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False)
    with torch.no_grad():
        assert ours.generate(eight, **greedy).tolist() == theirs.generate(eight, pad_token_id=0, **greedy).tolist()
    print(
        f"GPT {args.layers} layers, {args.d_model} wide, {args.heads} heads, vocab {args.vocab}; prompt "
        f"{args.prompt}, {args.new} new tokens; fp32 CPU, {torch.get_num_threads()} threads; outputs checked equal"
    )
    hf_batch1 = run_case("greedy, batch 1", ours, theirs, one, greedy, args.repeats, args.new)
    run_case("greedy, batch 8", ours, theirs, eight, greedy, args.repeats, args.new)
    run_case("beam 4, batch 1", ours, theirs, one, {**greedy, "num_beams": 4}, args.repeats, args.new)
    run_case(
        "sampling top_p=0.9, batch 1",
        ours,
        theirs,
        one,
        {**greedy, "do_sample": True, "top_p": 0.9, "top_k": 0, "seed": 0},
        args.repeats,
        args.new,
    )
    from einformer import EncoderDecoderConfig, EncoderDecoderTransformer

    torch.manual_seed(0)
    seq2seq = EncoderDecoderTransformer(
        EncoderDecoderConfig.from_preset("demo", src_vocab_size=64, tgt_vocab_size=64)
    ).eval()
    src = torch.randint(4, 64, (1, 12), generator=g)
    mask = torch.ones_like(src)
    print("encoder-decoder, demo preset (2 + 2 layers, 128 wide), 64 new tokens: prepared vs plain modules")
    seq2seq_case("seq2seq greedy, batch 1", seq2seq, src, mask, 1, args.repeats)
    seq2seq_case("seq2seq beam 4, batch 1", seq2seq, src, mask, 4, args.repeats)
    # the floor and the step measured in turn, so that a slow spell of a shared host hits both
    pairs = [(weight_floor_ms(ours), step_ms(ours, one, args.new, 2)) for _ in range(args.repeats)]
    floor, ms = (statistics.median(p[i] for p in pairs) for i in (0, 1))
    print(
        f"weights alone, batch 1: {floor:.2f} ms/token (transformers: {hf_batch1:.2f}); so at most "
        f"{hf_batch1 / floor:.2f}x transformers at batch 1 with fp32 weights on this machine"
    )
    ratio = statistics.median(step / floor for floor, step in pairs)
    print(
        f"einformer's batch-1 greedy step: {ms:.2f} ms/token = {ratio:.2f}x the weight floor (median of "
        f"{len(pairs)} rounds of floor, step: {', '.join(f'{s / f:.2f}' for f, s in pairs)})"
    )


if __name__ == "__main__":
    main()
