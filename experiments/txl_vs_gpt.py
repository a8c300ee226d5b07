"""Transformer-XL (segment 64, memory 64) against a GPT of the same size with context 64, both
trained for the same number of steps on the same characters (Dai et al. 2019's claim, small scale).

Tiny Shakespeare at character level: the first 90% trains, the last 10% validates (train_lm's
split). Both models: d_model 128, 4 layers, 4 heads, feed-forward 512, dropout 0.1, batch 32,
AdamW at 1e-3 with cosine decay. Validation bits per character come from `einformer evaluate`: the
GPT over non-overlapping blocks of 64 (its training context), the Transformer-XL over one stream
with memory 64.

    python experiments/txl_vs_gpt.py --data ../shared/data/tinyshakespeare/input.txt [--steps 2000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

COMMON = ["--d-model", "128", "--layers", "4", "--heads", "4", "--d-ff", "512", "--dropout", "0.1"]
COMMON += ["--batch-size", "32"]
COMMON += ["--lr", "1e-3", "--warmup", "100", "--schedule", "cosine", "--tokenizer", "char", "--no-progress"]
MODELS = {
    "GPT, context 64": ["--model", "gpt", "--preset", "small", "--block-size", "64"],
    "Transformer-XL, segment 64 + memory 64": ["--model", "transformer-xl", "--preset", "small"]
    + ["--seg-len", "64", "--mem-len", "64"],
}


def einformer(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "einformer", *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return out.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--runs", default="runs/txl_vs_gpt")
    a = p.parse_args()
    steps = ["--steps", str(a.steps), "--eval-every", str(a.steps), "--save-every", str(a.steps)]
    results = {}
    for name, flags in MODELS.items():
        run = str(Path(a.runs) / name.split(",")[0].lower().replace(" ", "-").replace("-", ""))
        t0 = time.perf_counter()
        einformer("train", "--data", a.data, *flags, *COMMON, *steps, "--run-dir", run)
        seconds = time.perf_counter() - t0
        metrics = json.loads(einformer("evaluate", run, "--json"))
        results[name] = {**metrics, "train_seconds": seconds}
        print(f"{name:<40} {metrics['bits_per_char']:.4f} bits/char  ({seconds:.0f} s to train)", flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
