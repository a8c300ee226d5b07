"""``einformer embed``, ``predict`` and ``fill-mask``: argument handling and printing around
``einformer.pipelines`` (the logic) for a BERT directory or a fine-tuned run."""

from __future__ import annotations

import argparse
import json

from .common import add_hub_flags, add_model_flags, hub_options, model_options, texts_or_stdin
from .train import add_column_flags, column_options

MATRIX_TEXTS = 10  # embed prints the cosine matrix of up to this many texts (a 300 x 300 matrix reads as noise)


def register(sub) -> None:
    p = sub.add_parser("embed", help="sentence embeddings, pooled as the directory declares (default: mean)")
    p.add_argument("model", help="a BERT directory: Hugging Face's (e.g. all-MiniLM-L6-v2) or ours, or 'minilm'")
    p.add_argument("text", nargs="*", help="texts; none = read standard input")
    p.add_argument("--json", action="store_true", help="one JSON line per text with its vector")
    p.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="L2-normalise each vector (--no-normalize: never); default: as the model declares (a Normalize "
        "module in its sentence-transformers modules.json; a plain directory has none)",
    )
    p.add_argument("--output", default=None, help="write the vectors to FILE.npy (numpy, N x D) or FILE.jsonl")
    add_hub_flags(p)
    add_model_flags(p)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("predict", help="predictions of a fine-tuned BERT run on raw text, as JSON lines")
    p.add_argument("run", help="a run directory of `einformer finetune` (or a directory with that head)")
    p.add_argument(
        "text", nargs="*", help="texts (qa: contexts, or JSON lines with question and context); none = stdin"
    )
    p.add_argument("--question", default=None, help="qa: the question asked of every context")
    p.add_argument("--aggregation", default="simple", help="tag: none, simple, first, average or max")
    p.add_argument("--top-k", type=int, default=None, help="classify: the best K labels (default all); qa: K answers")
    p.add_argument(
        "--data",
        default=None,
        help="records of the run's task, as finetune reads them; gold labels are not needed (and not read) "
        "unless --evaluate",
    )
    p.add_argument("--evaluate", action="store_true", help="with --data: print the task's metrics (needs gold labels)")
    p.add_argument(
        "--split",
        default=None,
        help="the split of a DatasetDict --data directory (default: test, else validation; --evaluate: validation, "
        "else test)",
    )
    add_column_flags(p)
    add_hub_flags(p)
    add_model_flags(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("fill-mask", help="the most likely words for [MASK] in each text, as JSON lines")
    p.add_argument("model", help="a BERT directory with a masked-LM head (Hugging Face's or ours)")
    p.add_argument("text", nargs="*", help="texts with [MASK]; none = standard input")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--targets", nargs="+", default=None, help="score only these words")
    add_hub_flags(p)
    add_model_flags(p)
    p.set_defaults(func=cmd_fill_mask)


def cmd_embed(args: argparse.Namespace) -> int:
    from ..auto import load
    from ..pipelines import pipeline
    from ..recipes.bert_finetune import encoder_families

    loaded = load(args.model, **hub_options(args), **model_options(args)).expect("embed", *encoder_families())
    embedder = pipeline("sentence-embeddings", loaded)
    texts = texts_or_stdin(args.text, "embed")
    vectors = embedder(texts, normalize=args.normalize)
    if args.output:
        from ..pipelines.features import write_embeddings

        write_embeddings(args.output, texts, vectors)
    if args.json:
        for text, vector in zip(texts, vectors.tolist(), strict=True):
            print(json.dumps({"text": text, "embedding": [round(x, 6) for x in vector]}))
        return 0
    pooling = embedder.pooling
    normalized = pooling.normalize if args.normalize is None else args.normalize
    why = (
        "--normalize" if args.normalize is not None else "its Normalize module" if normalized else "no Normalize module"
    )
    unit = f"{'unit length' if normalized else 'not normalised'} ({why})"
    summary = f"{len(texts)} embeddings of {vectors.shape[1]} dimensions, {'+'.join(pooling.modes)} pooling, {unit}"
    if args.output:
        summary += f"; written to {args.output}"
    if len(texts) > MATRIX_TEXTS:
        print(f"{summary}; the cosine matrix is shown for up to {MATRIX_TEXTS} texts"
              + ("" if args.output else ": write the vectors with --output FILE.npy or FILE.jsonl"))  # fmt: skip
        return 0
    print(f"{summary}; cosine similarities:")
    normed = vectors / vectors.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    similarity = normed @ normed.T
    for i, text in enumerate(texts):
        print(" ".join(f"{similarity[i, j]:6.3f}" for j in range(len(texts))) + f"  {text[:60]}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..auto import load
    from ..pipelines import pipeline
    from ..recipes.bert_finetune import encoder_families

    loaded = load(args.run, **hub_options(args), **model_options(args)).expect("predict", *encoder_families())
    if args.data:
        from ..recipes.bert_finetune import FinetuneRun, evaluate_file, predict

        run = FinetuneRun.from_loaded(loaded, "predict")
        columns = column_options(args)
        rows = (
            [evaluate_file(run, args.data, columns, split=args.split)]
            if args.evaluate
            else predict(run, records=args.data, columns=columns, split=args.split)
        )
        for row in rows:
            print(json.dumps(row))
        return 0
    if args.evaluate or args.split:
        raise ValueError(
            f"{'--evaluate scores' if args.evaluate else '--split picks'} records: pass them with --data FILE"
        )
    pipe = pipeline(None, loaded)
    texts = texts_or_stdin(args.text, "predict")
    if pipe.task == "question-answering":
        cases = [_qa_case(t, args.question, i) for i, t in enumerate(texts)]
        answers = pipe(cases, top_k=args.top_k or 1)
        for case, answer in zip(cases, answers, strict=True):
            print(json.dumps({**case, "answer": answer}, ensure_ascii=False))
    elif pipe.task == "token-classification":
        for text, entities in zip(texts, pipe(texts, aggregation_strategy=args.aggregation), strict=True):
            print(json.dumps({"text": text, "entities": entities}, ensure_ascii=False, default=float))  # numpy scores
    else:
        for text, labels in zip(texts, pipe(texts, top_k=args.top_k), strict=True):
            print(json.dumps({"text": text, "labels": labels}, ensure_ascii=False))
    return 0


def _qa_case(text: str, question: str | None, index: int) -> dict:
    """A context with --question, or a JSON line with question and context."""
    if question is not None:
        return {"question": question, "context": text}
    try:
        case = json.loads(text)
    except json.JSONDecodeError:
        case = None
    if not isinstance(case, dict) or not {"question", "context"} <= set(case):
        raise ValueError(
            f"input {index}: a qa run answers --question QUESTION about each text, or reads JSON lines "
            '{"question": ..., "context": ...}'
        )
    return {"question": case["question"], "context": case["context"]}


def cmd_fill_mask(args: argparse.Namespace) -> int:
    from ..auto import load
    from ..pipelines import pipeline

    texts = texts_or_stdin(args.text, "fill")
    fill = pipeline("fill-mask", load(args.model, **hub_options(args), **model_options(args)))
    results = fill(texts, top_k=args.top_k, targets=args.targets)
    for text, proposals in zip(texts, results, strict=True):
        print(json.dumps({"text": text, "predictions": proposals}, ensure_ascii=False))
    return 0
