"""Algorithmic sequence tasks with separate length ranges for training and testing.

Used to study length generalisation: train on lengths up to L, test on longer ones, and see which
architectures (vanilla Transformer, Universal Transformer, with or without ACT) extrapolate.
"""

from __future__ import annotations

import random

ALPHABET = "abcdefghij"


def _string(rng: random.Random, lengths: tuple[int, int]) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(*lengths)))


def copy_pair(rng: random.Random, lengths: tuple[int, int]) -> tuple[str, str]:
    s = _string(rng, lengths)
    return s, s


def reverse_pair(rng: random.Random, lengths: tuple[int, int]) -> tuple[str, str]:
    s = _string(rng, lengths)
    return s, s[::-1]


def sort_pair(rng: random.Random, lengths: tuple[int, int]) -> tuple[str, str]:
    s = _string(rng, lengths)
    return s, "".join(sorted(s))


def addition_pair(rng: random.Random, lengths: tuple[int, int]) -> tuple[str, str]:
    """Two operands of the given digit lengths: "123+45" -> "168"."""
    a, b = (rng.randrange(10 ** (n - 1) if n > 1 else 0, 10**n) for n in (rng.randint(*lengths) for _ in "ab"))
    return f"{a}+{b}", str(a + b)
