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


def parity_pair(rng: random.Random, lengths: tuple[int, int]) -> tuple[str, str]:
    """The ACT paper's parity task (Graves 2016, section 3.1) written as text: a vector of L entries,
    of which a random number k (1 to L) at random places are +1 or -1 and the rest 0; the target is
    "1" when the count of +1 entries is odd. "+0-0+" -> "0" (two +1 entries)."""
    length = rng.randint(*lengths)
    k = rng.randint(1, length)
    entries = ["0"] * length
    for i in rng.sample(range(length), k):
        entries[i] = rng.choice("+-")
    return "".join(entries), str(entries.count("+") % 2)


def nonzero_count(source: str) -> int:
    """A parity input's difficulty: its number of non-zero entries."""
    return sum(c != "0" for c in source)
