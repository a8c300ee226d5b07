"""Training quality: a Llama-architecture model against our GPT at an equal parameter count and equal steps.

Both are trained from scratch by `einformer train` on the same text (tinyshakespeare by default),
character-level, with the same preset width and depth, batch, block, learning rate, schedule, seed
and number of steps, no dropout. Llama's feed-forward width (d_ff) is chosen so that its parameter
count is the closest to GPT's: its SwiGLU has three matrices to GPT's two, its attention fewer
key/value heads, and its output layer is not tied to the embeddings. Prints each model's parameter
count, validation loss at every evaluation, the best, and the wall time, then the difference.

    python bench/llama_vs_gpt.py [--preset tiny --steps 600 --batch-size 32 --block-size 64 --lr 3e-3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from einformer import GPT, GPTConfig, load
from einformer.config.llama import LlamaConfig
from einformer.data.text import read_text
from einformer.data.tokenizer import Tokenizer
from einformer.models.llama import Llama

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare" / "input.txt"


def n_params(model) -> int:
    """Parameters counted once (tied weights are one tensor)."""
    return sum(p.numel() for p in model.parameters())


def matched_d_ff(preset: str, vocab: int, block: int, target: int) -> tuple[int, int]:
    """(d_ff, parameter count) of the Llama preset whose count is the closest to ``target``."""
    counts = {}
    for d_ff in range(8, 8 * LlamaConfig.presets[preset]["d_ff"] + 1, 4):
        config = LlamaConfig.from_preset(preset, vocab_size=vocab, max_position=block, d_ff=d_ff)
        counts[d_ff] = n_params(Llama(config))
    d_ff = min(counts, key=lambda d: abs(counts[d] - target))
    return d_ff, counts[d_ff]


def train(model: str, run_dir: Path, args, extra: list[str]) -> tuple[list[tuple[int, float]], float]:
    """Run `einformer train` and return ([(step, validation loss)], seconds)."""
    argv = [sys.executable, "-m", "einformer", "train", "--model", model, "--data", str(args.data),
            "--tokenizer", "char", "--preset", args.preset, "--block-size", str(args.block_size),
            "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--lr", str(args.lr),
            "--warmup", str(args.warmup), "--schedule", "cosine", "--dropout", "0", "--seed", str(args.seed),
            "--eval-every", str(args.eval_every), "--save-every", str(args.steps), "--no-progress",
            "--run-dir", str(run_dir), *extra]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["eval"]["loss"]) for r in rows if "eval" in r], seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    text = read_text(args.data)
    vocab = Tokenizer.train([text[: int(len(text) * 0.9)]], "char").vocab_size  # what the recipe trains
    gpt_count = n_params(GPT(GPTConfig.from_preset(args.preset, vocab_size=vocab, max_position=args.block_size)))
    d_ff, llama_count = matched_d_ff(args.preset, vocab, args.block_size, gpt_count)
    print(f"{args.data.name}: {len(text)} characters, vocabulary {vocab}; preset {args.preset}, {args.steps} steps "
          f"x {args.batch_size} x {args.block_size} tokens, lr {args.lr} cosine, seed {args.seed}, "
          "no dropout")  # fmt: skip
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, count, extra in (("gpt", gpt_count, []), ("llama", llama_count, ["--d-ff", str(d_ff)])):
            evals, seconds = train(name, Path(tmp) / name, args, extra)
            trained = n_params(load(Path(tmp) / name).model)
            assert trained == count, f"{name}: the run has {trained} parameters, {count} were planned"
            best = min(loss for _, loss in evals)
            results[name] = best
            curve = " ".join(f"{step}:{loss:.4f}" for step, loss in evals)
            detail = f" (d_ff {d_ff})" if name == "llama" else ""
            print(f"{name:<6} {count:>9,} parameters{detail}  best validation loss {best:.4f}  "
                  f"{seconds:5.0f} s  [{curve}]")  # fmt: skip
    print(f"llama - gpt: {results['llama'] - results['gpt']:+.4f} nats per character "
          f"(parameters {llama_count / gpt_count - 1:+.1%})")  # fmt: skip


if __name__ == "__main__":
    main()
