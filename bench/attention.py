"""Forward + backward of einformer's MultiHeadAttention against torch's, and against bare SDPA.

Same process, same weights, same inputs; warmed up; cases alternate every iteration and the
ratio is the median of per-iteration ratios. Prints one line per case
ending in ratio=ours/peer, where a ratio above 1 means einformer is faster (throughput).

    python bench/attention.py [--batch 8 --heads 6 --length 256 --d-model 384 --iterations 40]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from einformer.nn import MultiHeadAttention


class Bare(nn.Module):
    """The floor: three projections, torch's fused kernel, an output projection; nothing else."""

    def __init__(self, ours: MultiHeadAttention):
        super().__init__()
        self.ours, self.h = ours, ours.n_heads

    def forward(self, x):
        b, t, d = x.shape
        m = self.ours
        q = m.q_proj(x).view(b, t, self.h, -1).transpose(1, 2)
        k = m.k_proj(x).view(b, t, self.h, -1).transpose(1, 2)
        v = m.v_proj(x).view(b, t, self.h, -1).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)
        return m.out_proj(out.transpose(1, 2).reshape(b, t, d))


def once(fn, x):
    """Seconds for one forward + backward."""
    x.grad = None
    start = time.perf_counter()
    fn(x).sum().backward()
    return time.perf_counter() - start


def paired(cases, x, iterations, warmup=3):
    """Run every case once per iteration, in turn, so drifts in machine speed hit all alike.

    Returns each case's median seconds and, per peer, the median of per-iteration ratios
    peer_time / ours_time (ours is the first case).
    """
    times = {name: [] for name in cases}
    for i in range(warmup + iterations):
        for name, fn in cases.items():
            t = once(fn, x)
            if i >= warmup:
                times[name].append(t)
    ours = next(iter(times.values()))
    ratios = {name: statistics.median(p / o for p, o in zip(t, ours, strict=True)) for name, t in times.items()}
    return {name: statistics.median(t) for name, t in times.items()}, ratios


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--length", type=int, default=256)
    p.add_argument("--d-model", type=int, default=384)
    p.add_argument("--iterations", type=int, default=40, help="timed iterations, each running every case once")
    args = p.parse_args()
    torch.manual_seed(0)
    d, h = args.d_model, args.heads
    ours = MultiHeadAttention(d, h)
    theirs = nn.MultiheadAttention(d, h, batch_first=True)
    with torch.no_grad():  # same weights everywhere
        theirs.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        theirs.out_proj.load_state_dict(ours.out_proj.state_dict())
    bare = Bare(ours)
    x = torch.randn(args.batch, args.length, d, requires_grad=True)
    torch.testing.assert_close(ours(x)[0], theirs(x, x, x, need_weights=False)[0], atol=1e-5, rtol=1e-5)
    cases = {
        "einformer": lambda x: ours(x)[0],
        "torch.nn.MultiheadAttention": lambda x: theirs(x, x, x, need_weights=False)[0],
        "bare projections + F.sdpa": bare,
    }
    medians, ratios = paired(cases, x, args.iterations)
    tokens = args.batch * args.length
    print(f"fwd+bwd, B={args.batch} H={h} T=S={args.length} D={d}, fp32, {torch.get_num_threads()} threads")
    for name, sec in medians.items():
        line = f"{name:<30} {sec * 1e3:8.2f} ms  {tokens / sec:10.0f} tokens/s"
        if name != "einformer":
            line += f"  ratio={ratios[name]:.3f}"
        print(line)


if __name__ == "__main__":
    main()
