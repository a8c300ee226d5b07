"""Peak memory of a 2-step language-model run on large texts: ``einformer train`` for a character
GPT and a byte-level BPE GPT on 20 MB of one line, 20 MB of lines, and (``--big``) 200 MB, each in
its own process under ``/usr/bin/time -v`` (its "Maximum resident set size"). The texts are Tiny
Shakespeare repeated, written to a temporary directory (never into the repository).

``--check-ids`` instead compares, on the 20 MB files, the ids of einformer's piecewise encoding
(``einformer.data.chunks``) with the reference, one tokenizer call on the whole text (what einformer
did for a one-line file; its newline chunks gave the same ids on a multi-line one), each in its own
process with a char and a byte-level BPE tokenizer trained on the first MB. The reference takes
gigabytes: that is the memory this bounds.

    python bench/lm_memory.py [--big] [--check-ids] [--shakespeare ../shared/data/tinyshakespeare/input.txt]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

GOAL_MB = 1536
SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare" / "input.txt"
LEVELS = {"char GPT": ["--tokenizer", "char"], "byte-BPE GPT": ["--tokenizer", "bpe", "--vocab-size", "300"]}
TRAIN = ["--model", "gpt", "--preset", "tiny", "--block-size", "64", "--batch-size", "8", "--steps", "2",
         "--warmup", "1", "--eval-every", "2", "--no-progress"]  # fmt: skip

IDS = r"""
import hashlib, sys, torch
from einformer.data.tokenizer import Tokenizer
text = open(sys.argv[1], encoding="utf-8").read()
tok = Tokenizer.train([text[:1_000_000]], sys.argv[2], vocab_size=300)  # the same tokenizer in both processes
if sys.argv[3] == "whole":  # today's reference: one tokenizer call on the whole text
    ids = torch.tensor(tok.backend.encode(text, add_special_tokens=False).ids, dtype=torch.int32)
else:
    ids = tok.encode_array(text)
print(len(ids), hashlib.sha256(ids.numpy().tobytes()).hexdigest())
"""


def write_texts(directory: Path, source: Path, big: bool) -> dict[str, Path]:
    """20 MB on one line, 20 MB of lines, and optionally 200 MB of lines, from ``source`` repeated."""
    base = source.read_text(encoding="utf-8")
    repeat = -(-20_000_000 // len(base))
    files = {"20 MB, one line": base.replace("\n", " ") * repeat, "20 MB, lines": base * repeat}
    out = {}
    for name, text in files.items():
        out[name] = directory / (name.replace(" ", "_").replace(",", "") + ".txt")
        out[name].write_text(text[:20_000_000], encoding="utf-8")
    if big:
        out["200 MB, lines"] = directory / "200MB.txt"
        with open(out["200 MB, lines"], "w", encoding="utf-8") as f:
            for _ in range(10):
                f.write(files["20 MB, lines"][:20_000_000])
    return out


def peak_mb(argv: list[str]) -> tuple[float, str]:
    """(the peak resident memory of ``argv`` in MB, its standard output)."""
    out = subprocess.run(["/usr/bin/time", "-v", *argv], capture_output=True, text=True)
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    if out.returncode != 0 or not match:
        raise SystemExit(f"{' '.join(argv)} failed:\n{out.stderr[-2000:]}")
    return int(match.group(1)) / 1024, out.stdout


def ids_digest(path: Path, level: str, how: str) -> tuple[str, float]:
    """(the number and hash of the ids of ``path``, the peak MB of the process that encoded it)."""
    mb, out = peak_mb([sys.executable, "-c", IDS, str(path), level, how])
    return out.strip(), mb


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--big", action="store_true", help="also the 200 MB text (minutes on a 2-core host)")
    p.add_argument("--check-ids", action="store_true", help="compare the ids with one whole-text call (GBs)")
    p.add_argument("--shakespeare", type=Path, default=SHAKESPEARE)
    p.add_argument("--only", default="", help="run the texts whose name contains this, e.g. '200 MB'")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        texts = write_texts(tmp, a.shakespeare, a.big)
        if a.check_ids:
            print("ids of the 20 MB files: einformer's pieces against one tokenizer call on the whole text")
            for text_name, path in texts.items():
                for level in ("char", "bytebpe"):
                    (new, new_mb), (old, old_mb) = (ids_digest(path, level, h) for h in ("pieces", "whole"))
                    same = "same ids" if new == old else f"IDS DIFFER ({new} vs {old})"
                    print(f"{text_name:16s} {level:8s} {new.split()[0]:>11s} ids  {same}; peak of the encoding "
                          f"process: pieces {new_mb:5.0f} MB, one call {old_mb:5.0f} MB", flush=True)  # fmt: skip
            return
        print(f"peak resident memory of `einformer train {' '.join(TRAIN)}` (goal: under {GOAL_MB} MB)")
        for text_name, path in texts.items():
            if a.only not in text_name:
                continue
            for level, flags in LEVELS.items():
                run_dir = tmp / f"run-{path.stem}-{flags[1]}"
                mb, _ = peak_mb([sys.executable, "-m", "einformer", "train", *TRAIN, *flags, "--data", str(path),
                                 "--run-dir", str(run_dir)])  # fmt: skip
                print(f"{text_name:16s} {level:13s} peak {mb:7.0f} MB  {'ok' if mb < GOAL_MB else 'OVER'}", flush=True)


if __name__ == "__main__":
    main()
