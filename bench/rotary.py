"""The rotation of one decoded token's queries and keys: einformer's ``RotaryEmbedding`` against the
formula as transformers writes it, x * cos + rotate_half(x) * sin, on the same tensors.

einformer turns by x * cos + roll(x, Dr / 2) * [-sin, sin] (the halves of sin, one negated, made
once per forward with cos and sin): three operators a tensor instead of six (chunk, negate, cat,
two products, a sum), the same bits (tests/nn/test_rotary.py). Shapes are bench/llama.py's: 8 query
and 2 key-value heads of width 64, one position per row, q and k as views of the fused q/k/v product.
The sides run in a shuffled order each round; ratio = formula time / einformer time (above 1: faster).

    python bench/rotary.py [--rounds 3000]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from einformer.nn.rotary import RotaryEmbedding, rotate_half
from rounds import shuffled_rounds


def compare(rope: RotaryEmbedding, batch: int, rounds: int, h: int = 8, hkv: int = 2) -> None:
    d = rope.dim
    qkv = torch.randn(batch, 1, (h + 2 * hkv) * d)
    q, k, _ = qkv.split([h * d, hkv * d, hkv * d], dim=-1)
    q, k = q.view(batch, 1, h, d).transpose(1, 2), k.view(batch, 1, hkv, d).transpose(1, 2)  # (B, H, 1, Dh)
    positions = torch.randint(0, 4000, (batch, 1))
    cos, sin = rope.cos_sin(positions, q.dtype)  # made once per forward on either side

    def formula():
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin

    def ours():
        return rope(q, k, positions)

    assert all(torch.equal(a, b) for a, b in zip(formula(), ours(), strict=True))
    sides = {"formula": formula, "einformer": ours}
    times = shuffled_rounds(sides, rounds)
    ratio = statistics.median(a / b for a, b in zip(times["formula"], times["einformer"], strict=True))
    us = {name: statistics.median(ts) * 1e6 for name, ts in times.items()}
    print(f"batch {batch}: formula {us['formula']:5.1f} us   einformer {us['einformer']:5.1f} us   ratio={ratio:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3000)
    args = p.parse_args()
    torch.set_grad_enabled(False)
    print(f"rotating q (B, 8, 1, 64) and k (B, 2, 1, 64) once per layer; {args.rounds} shuffled rounds")
    for batch in (1, 8):
        compare(RotaryEmbedding(64, theta=500000.0), batch, args.rounds)


if __name__ == "__main__":
    main()
