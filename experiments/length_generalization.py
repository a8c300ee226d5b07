"""Length generalisation: train on short inputs, test on longer ones (the Universal Transformer
paper's question, Dehghani et al. 2019, section 3.2, on einformer's algorithmic tasks).

Three models of the same width (d_model 64, 4 heads, d_ff 256, pre-norm, no dropout) and the same
depth budget: the vanilla encoder-decoder with 4 + 4 layers, the Universal Transformer applying one
shared layer 4 times, and the Universal Transformer with ACT (at most 8 steps, graves mode). Each
trains on the task's training lengths and is scored by greedy exact match on held-out inputs of the
training lengths ("in") and of lengths up to twice the training maximum ("2L": copy and reverse
train on 1-10 characters and test on 11-20; addition trains on operands of 1-5 digits, tests on 6-10).

    python experiments/length_generalization.py [--tasks copy reverse addition] [--steps 1000]

It prints a markdown table and writes it, with the raw figures, to --out (a JSON file).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from einformer.recipes.seq2seq import train_seq2seq
from einformer.training import TrainingArguments

WIDTH = dict(d_model=64, n_heads=4, d_ff=256, dropout=0.0, norm_first=True)
# test lengths up to twice the training maximum (the built-in addition task tests 6-8 digits)
TEST_LENGTHS = {"copy": (11, 20), "reverse": (11, 20), "addition": (6, 10)}
MODELS = {
    "Transformer (4+4 layers)": ("encoder-decoder", "small", dict(WIDTH, n_encoder_layers=4, n_decoder_layers=4)),
    "UT (4 steps)": ("universal-transformer", "small", dict(WIDTH, act=False, max_steps=4)),
    "UT + ACT (<= 8 steps)": ("universal-transformer", "small", dict(WIDTH, act=True, max_steps=8)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["copy", "reverse", "addition"])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--out", default="length_generalization.json")
    a = parser.parse_args()
    rows = []
    for task in a.tasks:
        for name, (architecture, preset, overrides) in MODELS.items():
            args = TrainingArguments(
                max_steps=a.steps,
                batch_size=64,
                learning_rate=1e-3,
                warmup_steps=200,
                eval_every=a.steps,
                save_every=a.steps,
                log_every=100,
                progress=False,
            )
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as run_dir:
                _, run, test = train_seq2seq(
                    Path(run_dir) / "run",
                    task=task,
                    architecture=architecture,
                    preset=preset,
                    model_overrides=overrides,
                    args=args,
                    n_train=a.n_train,
                    n_val=a.n_test,
                    n_test=a.n_test,
                    test_lengths=TEST_LENGTHS.get(task),
                )
                _, val, _, _ = _splits(task, a, TEST_LENGTHS.get(task))
                inside = run.evaluate(val)["exact_match"]
                longer = run.evaluate(test)["exact_match"]
            seconds = time.perf_counter() - start
            rows.append(dict(task=task, model=name, in_distribution=inside, longer=longer, seconds=seconds))
            print(f"{task:<9} {name:<26} in {inside:6.1%}   2L {longer:6.1%}   ({seconds:.0f} s)", flush=True)
    table = ["| task | model | exact match, training lengths | exact match, ~2x longer |", "|---|---|---|---|"]
    table += [f"| {r['task']} | {r['model']} | {r['in_distribution']:.1%} | {r['longer']:.1%} |" for r in rows]
    print("\n".join(table))
    Path(a.out).write_text(json.dumps({"steps": a.steps, "rows": rows, "table": table}, indent=1), encoding="utf-8")


def _splits(task: str, a, test_lengths):
    from einformer.recipes.seq2seq import load_data

    return load_data(task=task, data=None, n_train=0, n_val=a.n_test, n_test=a.n_test, test_lengths=test_lengths)


if __name__ == "__main__":
    main()
