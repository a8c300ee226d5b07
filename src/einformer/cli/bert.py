"""``einformer embed`` and ``predict``: an encoder's sentence embeddings, a fine-tuned run's predictions."""

from __future__ import annotations

import argparse
import json

from .common import texts_or_stdin


def register(sub) -> None:
    p = sub.add_parser("embed", help="sentence embeddings (mean pooling, normalised) from a BERT directory")
    p.add_argument("model", help="a BERT directory: Hugging Face's (e.g. all-MiniLM-L6-v2) or ours, or 'minilm'")
    p.add_argument("text", nargs="*", help="texts; none = read standard input")
    p.add_argument("--json", action="store_true", help="one JSON line per text with its vector")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("predict", help="predictions of a fine-tuned BERT run")
    p.add_argument("run", help="a run directory of `einformer finetune`")
    p.add_argument("text", nargs="*", help="texts to classify (classify/regress); none = standard input")
    p.add_argument("--data", default=None, help="JSONL records of the run's task")
    p.add_argument("--evaluate", action="store_true", help="with --data: print the task's metrics")
    p.set_defaults(func=cmd_predict)


def cmd_embed(args: argparse.Namespace) -> int:
    from ..auto import load
    from ..recipes.embeddings import embed

    loaded = load(args.model).expect("embed", "bert")
    texts = texts_or_stdin(args.text, "embed")
    vectors = embed(loaded.encoder, loaded.require_tokenizer("embed"), texts)
    if args.json:
        for text, vector in zip(texts, vectors.tolist(), strict=True):
            print(json.dumps({"text": text, "embedding": [round(x, 6) for x in vector]}))
        return 0
    print(f"{len(texts)} embeddings of {vectors.shape[1]} dimensions (unit length); cosine similarities:")
    similarity = vectors @ vectors.T
    for i, text in enumerate(texts):
        print(" ".join(f"{similarity[i, j]:6.3f}" for j in range(len(texts))) + f"  {text[:60]}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..auto import load
    from ..recipes.bert_finetune import FinetuneRun, evaluate_file, predict

    run = FinetuneRun.from_loaded(load(args.run), "predict")
    if args.evaluate:
        if not args.data:
            raise ValueError("--evaluate scores JSONL records: pass them with --data FILE")
        print(json.dumps(evaluate_file(run, args.data)))
        return 0
    if args.data:
        predictions = predict(run, records=args.data)
    else:
        if run.info.task not in ("classify", "regress"):
            raise ValueError(f"a {run.info.task} run reads JSONL records: pass --data FILE")
        predictions = predict(run, texts=texts_or_stdin(args.text, "predict"))
    for p in predictions:
        print(json.dumps(p))
    return 0
