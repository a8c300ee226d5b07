"""A real Marian-shaped model: train einformer's encoder-decoder in Marian's configuration on
Multi30k de-en, export it as a Hugging Face Marian directory, and translate test_2016_flickr with
both einformer's generate and transformers' MarianMTModel.generate on the same token ids.

Marian's configuration: post-norm, sinusoidal positions in halves, embeddings x sqrt(d_model), a
swish feed-forward, one embedding shared by source, target and output (a joint BPE vocabulary), and
an output bias (final_logits_bias). Both decoders read the same ids and are decoded with the run's
tokenizer, so equal BLEU shows the export carries the trained model, not only its shapes.

    python bench/marian_multi30k.py --data ../shared/data/multi30k --run-dir /tmp/einformer-marian-multi30k

The run is cached in --run-dir (outside the repository): a second call only exports and translates.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

from einformer.recipes.export import export as export_run
from einformer.recipes.seq2seq import corpus_bleu, load_run, train_seq2seq
from einformer.training import TrainingArguments

MARIAN = dict(
    activation="silu",
    norm_first=False,
    positions="sinusoidal",
    sinusoid_layout="halves",
    scale_embedding=True,
    output_bias=True,
    tie_word_embeddings=True,
)


def train(data: Path, run_dir: Path, steps: int) -> float:
    start = time.perf_counter()
    args = TrainingArguments(
        max_steps=steps,
        batch_size=64,
        learning_rate=1e-3,
        warmup_steps=400,
        schedule="inverse_sqrt",
        eval_every=max(steps // 3, 1),
        save_every=max(steps // 3, 1),
        progress=False,
    )
    train_seq2seq(
        run_dir,
        data=str(data / "train.de"),
        target_file=str(data / "train.en"),
        val=str(data / "val.de"),
        val_target_file=str(data / "val.en"),
        tokenizer="bpe",
        vocab_size=6000,
        share_vocab=True,
        preset="small",
        model_overrides=MARIAN,
        args=args,
    )
    return time.perf_counter() - start


@torch.no_grad()
def translate_both(run, export: Path, sources: list[str], batch_size: int, num_beams: int):
    from transformers import MarianMTModel

    hf = MarianMTModel.from_pretrained(export).eval()
    ours, theirs, seconds = [], [], {"einformer": 0.0, "transformers": 0.0}
    for i in range(0, len(sources), batch_size):
        batch = run.encode_sources(sources[i : i + batch_size])
        length = run._length(None, int(batch["attention_mask"].sum(1).max()))
        t = time.perf_counter()
        a = run.model.generate(batch["input_ids"], batch["attention_mask"], num_beams=num_beams, **length)
        seconds["einformer"] += time.perf_counter() - t
        t = time.perf_counter()
        b = hf.generate(**batch, num_beams=num_beams, **length)
        seconds["transformers"] += time.perf_counter() - t
        ours += [run.target_tokenizer.decode(row[1:]) for row in a.tolist()]
        theirs += [run.target_tokenizer.decode(row[1:]) for row in b.tolist()]
    return ours, theirs, seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/multi30k"))
    p.add_argument("--run-dir", type=Path, default=Path("/tmp/einformer-marian-multi30k"))
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--num-beams", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--limit", type=int, default=None, help="translate only the first N test sentences")
    a = p.parse_args()
    if not (a.run_dir / "run.json").is_file():
        print(f"training {a.steps} steps into {a.run_dir} ...", flush=True)
        print(f"trained in {train(a.data, a.run_dir, a.steps):.0f} s")
    run = load_run(a.run_dir)
    export_dir = a.run_dir.parent / (a.run_dir.name + "-marian")
    shutil.rmtree(export_dir, ignore_errors=True)
    export = export_run(a.run_dir, export_dir, format="hf")  # `einformer export RUN OUT`
    print(f"exported the run as a Marian directory: {export}")
    sources = (a.data / "test_2016_flickr.de").read_text(encoding="utf-8").splitlines()[: a.limit]
    references = (a.data / "test_2016_flickr.en").read_text(encoding="utf-8").splitlines()[: a.limit]
    ours, theirs, seconds = translate_both(run, export, sources, a.batch_size, a.num_beams)
    same = sum(x == y for x, y in zip(ours, theirs, strict=True))
    print(f"test_2016_flickr: {len(sources)} sentences, beam {a.num_beams}")
    print(f"  einformer generate            BLEU {corpus_bleu(ours, references):.2f}  ({seconds['einformer']:.1f} s)")
    print(
        f"  transformers MarianMTModel    BLEU {corpus_bleu(theirs, references):.2f}  ({seconds['transformers']:.1f} s)"
    )
    print(f"  identical translations: {same} / {len(sources)}")
    print(f"  e.g. {sources[0]!r} -> {ours[0]!r}")


if __name__ == "__main__":
    main()
