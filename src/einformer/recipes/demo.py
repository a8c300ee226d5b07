"""``einformer demo``: train a Transformer on a built-in translation task, show it learning, translate
with it, and draw its cross-attention.

How long it takes depends on the machine (2 unloaded CPU cores: about 2 minutes; the same cores
shared with other jobs: half an hour), so the demo states the work it will do and the cores it
sees, and the trainer states the expected time from the rate it measures on its first steps."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..explain import plot_attention, seq2seq_cross_attention
from ..training import TrainingArguments
from ..training.progress import visible_cores
from ..training.run_dir import holds_run
from .seq2seq import train_seq2seq

# Sized to finish within 3 minutes on 2 unloaded CPU cores at >= 95% exact match on numbers-en.
FULL = dict(steps=1500, batch_size=64, n_train=50000, n_val=300, n_test=1000)
QUICK = dict(steps=60, batch_size=32, n_train=2000, n_val=50, n_test=50)


def fresh_dir(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``... the first that does not exist: never overwrite a run."""
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def run_demo(
    *,
    task: str = "numbers-en",
    run_dir: str | Path | None = None,
    quick: bool = False,
    steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
    echo=print,
) -> dict:
    """Train, evaluate, translate examples, draw attention; return the figures it printed."""
    sizes = QUICK if quick else FULL
    run_dir = Path(run_dir) if run_dir else fresh_dir(Path("runs") / f"demo-{task}")
    if holds_run(run_dir):  # the demo never resumes: say so before the trainer's generic refusal
        raise ValueError(f"{run_dir} already holds a run; the demo starts fresh: give another --run-dir or none")
    steps = steps or sizes["steps"]
    args = TrainingArguments(
        max_steps=steps,
        batch_size=sizes["batch_size"],
        learning_rate=2e-3,
        warmup_steps=200,
        schedule="cosine",
        weight_decay=0.0,
        eval_every=max(1, steps // 3),
        save_every=steps,
        log_every=max(1, steps // 30),
        seed=seed,
        progress=progress,
    )
    echo(f"einformer demo: training an encoder-decoder Transformer on '{task}' -> {run_dir}")
    echo(
        f"{steps} steps of {sizes['batch_size']} examples on {torch.get_num_threads()} threads "
        f"({visible_cores()} cores visible to this process)"
        + ("; the expected time follows after a few measured steps" if progress else "")
    )
    start = time.perf_counter()
    result, run, test = train_seq2seq(
        run_dir,
        task=task,
        preset="demo",
        args=args,
        n_train=sizes["n_train"],
        n_val=sizes["n_val"],
        n_test=sizes["n_test"],
        seed=seed,
    )
    echo(f"trained {result.step} steps in {result.seconds:.0f} s; model of {run.model.num_parameters():,} parameters")

    metrics = run.evaluate(test, num_beams=1)
    echo(
        f"held-out exact match: {metrics['exact_match']:.1%} on {len(test)} examples never seen in training "
        f"(greedy decoding)"
    )
    examples = test[:5]
    echo("translations of held-out examples (beam search, 4 beams):")
    for (source, target), output in zip(examples, run.translate([s for s, _ in examples], num_beams=4), strict=True):
        echo(f"  {source!r:>14} -> {output}" + ("" if output == target else f"   (expected: {target})"))

    weights, src_tokens, out_tokens = seq2seq_cross_attention(run, examples[0][0])
    heatmap = plot_attention(
        weights[-1].mean(0),
        src_tokens,
        out_tokens,
        run_dir / "cross_attention.png",
        title=f"cross-attention, last decoder layer (mean of {weights.shape[1]} heads)",
    )
    total = time.perf_counter() - start
    echo(f"wrote {heatmap} and {run_dir / 'loss_curve.png'}; total {total:.0f} s")
    echo("next:")
    echo(f"  einformer translate {run_dir} 1234 10086")
    echo(f"  einformer evaluate {run_dir}")
    echo("  einformer demo --task numbers-zh      # or dates, reverse, sort, addition")
    return {
        "exact_match": metrics["exact_match"],
        "seconds": total,
        "run_dir": run_dir,
        "train_seconds": result.seconds,
    }
