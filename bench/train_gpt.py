"""GPT training throughput against Hugging Face's GPT2LMHeadModel, and model-FLOPs utilisation.

Same process, same config and weights, same batches, AdamW; fwd + bwd + step alternate between the
two models each iteration; ratio = median of per-iteration ratios (above 1 = einformer is faster).
MFU = achieved model FLOP/s over this machine's fp32 matmul peak, measured here first, with the
PaLM count: 6 * N (non-embedding parameters) + 12 * layers * d_model * T FLOPs per token.

    python bench/train_gpt.py [--layers 6 --d-model 384 --heads 6 --vocab 8192 --batch 8 --block 256]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from einformer import GPT


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """Best fp32 FLOP/s of an n x n x n matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_time(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    import transformers

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--d-model", type=int, default=384)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--block", type=int, default=256)
    p.add_argument("--iterations", type=int, default=8)
    args = p.parse_args()
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=args.vocab,
        n_positions=args.block,
        n_embd=args.d_model,
        n_layer=args.layers,
        n_head=args.heads,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    theirs = transformers.GPT2LMHeadModel(config)  # transformers' default attention (sdpa)
    with tempfile.TemporaryDirectory() as d:
        theirs.save_pretrained(d)
        ours = GPT.from_pretrained(d).train()
    theirs.train()
    ids = torch.randint(0, args.vocab, (args.batch, args.block), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids, labels=ids).loss, theirs(ids, labels=ids).loss, atol=1e-5, rtol=1e-5)
    opts = {
        "einformer": torch.optim.AdamW(ours.parameters(), lr=1e-4),
        "transformers": torch.optim.AdamW(theirs.parameters(), lr=1e-4),
    }
    models = {"einformer": ours, "transformers": theirs}

    def step(name):
        loss = models[name](ids, labels=ids).loss
        loss.backward()
        opts[name].step()
        opts[name].zero_grad(set_to_none=True)

    times = {name: [] for name in models}
    for i in range(args.iterations + 2):
        for name in models:
            t = _time(lambda name=name: step(name))
            if i >= 2:
                times[name].append(t)
    tokens = args.batch * args.block
    n_params = sum(p.numel() for n, p in ours.named_parameters() if not n.startswith(("embed", "pos")))
    flops_per_token = 6 * n_params + 12 * args.layers * args.d_model * args.block
    peak = matmul_peak()
    ratio = statistics.median(t / o for o, t in zip(times["einformer"], times["transformers"], strict=True))
    print(
        f"GPT train step, {args.layers} layers, {args.d_model} wide, vocab {args.vocab}, batch {args.batch} x "
        f"{args.block}, fp32, {torch.get_num_threads()} threads; measured matmul peak {peak / 1e9:.0f} GFLOP/s"
    )
    for name, t in times.items():
        sec = statistics.median(t)
        mfu = tokens * flops_per_token / sec / peak
        line = f"{name:<13} {sec * 1e3:8.0f} ms/step  {tokens / sec:8.0f} tokens/s  MFU {mfu:5.1%}"
        if name == "transformers":
            line += f"  ratio={ratio:.3f}"
        print(line)


if __name__ == "__main__":
    main()
