"""Peak memory of encoding a large text for language modelling: one tokenizer call on the whole
text (what einformer did) against ``Tokenizer.encode_array``'s chunks into int32, each in a fresh
process so the peaks do not mix. Prints the peak resident memory per MB of input and the ratio
(above 1 = the chunked encoding uses less).

    python bench/lm_memory.py [--mb 20 --level char]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = r"""
import resource, sys, random, torch
from einformer.data.tokenizer import Tokenizer
mb, level, how = float(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = random.Random(0)
words = ["".join(rng.choice("etaoinshrdlucmfwyp") for _ in range(rng.randint(1, 9))) for _ in range(3000)]
lines, size = [], 0
while size < mb * 1e6:
    line = " ".join(rng.choice(words) for _ in range(12)) + ".\n"
    lines.append(line)
    size += len(line)
text = "".join(lines)
tok = Tokenizer.train([text[:200_000]], level, vocab_size=2048)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ids = torch.tensor(tok.encode(text), dtype=torch.long) if how == "one-call" else tok.encode_array(text)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((peak - before) / 1024 / (len(text) / 1e6), len(ids))
"""


def peak_per_mb(mb: float, level: str, how: str) -> tuple[float, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(mb), level, how], capture_output=True, text=True, check=True)
    per_mb, n = out.stdout.split()
    return float(per_mb), int(n)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=20.0)
    p.add_argument("--level", default="char", choices=["char", "bytebpe"])
    a = p.parse_args()
    old, n_old = peak_per_mb(a.mb, a.level, "one-call")
    new, n_new = peak_per_mb(a.mb, a.level, "chunked")
    assert n_old == n_new, "the two encodings must give the same number of ids"
    print(f"{a.mb:.0f} MB of text, {a.level} tokenizer, {n_new:,} ids; peak resident memory added per MB of input:")
    print(f"one tokenizer call {old:8.1f} MB/MB   chunked int32 {new:8.1f} MB/MB   ratio={old / new:.1f}")


if __name__ == "__main__":
    main()
