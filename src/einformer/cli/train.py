"""``einformer demo``, ``train`` and ``finetune``: parse, build the job's spec, call the recipe."""

from __future__ import annotations

import argparse

from .. import registry
from .common import add_hub_flags, add_training_flags, from_args, model_path, run_distributed, training_arguments

COLUMN_OPTIONS = ("text", "text_pair", "label", "question", "context", "answer", "choices")


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="train a Transformer on a built-in task (it states its expected time), translate, draw attention"
    )
    p.add_argument(
        "--task", default="numbers-en", help="numbers-en (default), numbers-zh, dates, copy, reverse, sort, addition"
    )
    p.add_argument("--run-dir", default=None, help="where to write the run (default runs/demo-TASK, never reused)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 1500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a tiny run that checks the pipeline in seconds")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=cmd_demo)
    _register_train(sub)
    _register_finetune(sub)


def _register_train(sub) -> None:
    p = sub.add_parser("train", help="train a model on a built-in task or your own data")
    p.add_argument(
        "--model",
        default="encoder-decoder",
        choices=registry.train_names(),  # the registry's families that `einformer train` trains
        help="model family (universal: the Universal Transformer; bert: masked-LM pre-training)",
    )
    p.add_argument("--mem-len", type=int, default=None, help="transformer-xl: memory length (default 64)")
    p.add_argument("--seg-len", type=int, default=None, help="transformer-xl: segment length (default 64)")
    u = p.add_argument_group("Universal Transformer (see docs/universal.md)")
    u.add_argument("--act", action="store_true", help="universal: halt per position with ACT (else fixed steps)")
    u.add_argument("--ut-steps", type=int, default=None, help="universal: steps (the cap with --act)")
    u.add_argument("--act-mode", default=None, choices=["graves", "ut"], help="universal: ACT output rule")
    u.add_argument("--ponder-weight", type=float, default=None, help="universal: ACT time penalty tau")
    p.add_argument("--train-lengths", default=None, help="algorithmic tasks: training lengths MIN,MAX (e.g. 1,10)")
    p.add_argument("--test-lengths", default=None, help="algorithmic tasks: test lengths MIN,MAX (e.g. 11,20)")
    p.add_argument("--whole-word-masking", action="store_true", help="bert: mask whole words")
    p.add_argument("--next-sentence", action="store_true", help="bert: add next-sentence prediction")
    p.add_argument("--tokenizer-from", default=None, help="bert, gpt: reuse this directory's tokenizer (a fresh model)")
    p.add_argument(
        "--init-from",
        default=None,
        help="gpt: fine-tune this pretrained GPT (a Hugging Face GPT-2 directory or an einformer run), "
        "keeping its sizes and tokenizer",
    )
    p.add_argument(
        "--documents",
        default="file",
        choices=["file", "blank-line", "line"],
        help="gpt, transformer-xl: what a document is; the EOS token goes between documents (default: file)",
    )
    p.add_argument("--task", default=None, help="a built-in task (see `einformer demo --help`)")
    p.add_argument(
        "--data",
        default=None,
        help="pairs: FILE.tsv (source<TAB>target), FILE.jsonl, or the source "
        "side of two parallel files with --target-file",
    )
    p.add_argument("--target-file", default=None, help="target side of two parallel files")
    p.add_argument("--val", default=None, help="validation pairs (default: 5%% of --data held out)")
    p.add_argument("--val-target-file", default=None, help="target side of parallel validation files")
    p.add_argument("--source-field", default="source", help="JSONL field of the source text")
    p.add_argument("--target-field", default="target", help="JSONL field of the target text")
    p.add_argument(
        "--tokenizer",
        default=None,
        choices=["bpe", "wordpiece", "char", "word"],
        help="for --data (default: bpe for encoder-decoder, char for gpt; gpt's bpe is byte-level)",
    )
    p.add_argument("--share-vocab", action="store_true", help="one joint vocabulary and embedding for both sides")
    p.add_argument("--vocab-size", type=int, default=8000, help="BPE vocabulary size per side")
    p.add_argument(
        "--preset",
        default=None,
        help="model size: encoder-decoder tiny/demo/small/base, gpt tiny/small/gpt2 (default small)",
    )
    p.add_argument("--layers", type=int, default=None, help="override the preset's layers (per stack)")
    p.add_argument("--d-model", type=int, default=None, help="override the preset's width")
    p.add_argument("--heads", type=int, default=None, help="override the preset's heads")
    p.add_argument("--d-ff", type=int, default=None, help="override the preset's feed-forward width")
    p.add_argument("--block-size", type=int, default=256, help="gpt: context length in tokens")
    p.add_argument("--sampling", default="random", choices=["random", "contiguous"], help="gpt: block sampling")
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--label-smoothing", type=float, default=None)
    p.add_argument("--norm-first", action="store_const", const=True, default=None, help="pre-norm (default post)")
    p.add_argument("--n-train", type=int, default=50000, help="examples drawn from a built-in task")
    p.add_argument("--on-long", default="truncate", choices=["truncate", "error"], help="over-long examples")
    p.add_argument("--run-dir", required=True, help="where to write the run")
    add_training_flags(p)
    add_hub_flags(p)
    p.set_defaults(func=cmd_train)


def _register_finetune(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune a BERT (Hugging Face's or ours) on a task's records")
    p.add_argument("--model", required=True, help="a BERT directory, e.g. all-MiniLM-L6-v2")
    p.add_argument("--task", required=True, choices=["classify", "regress", "tag", "qa", "choice"])
    p.add_argument(
        "--data",
        required=True,
        help="training records: .jsonl, .csv or .tsv with a header, .parquet, or a datasets save_to_disk directory "
        "(its train split); see docs/tasks_and_data.md for the fields",
    )
    p.add_argument(
        "--val",
        default=None,
        help="validation records, in any of --data's formats (default: a DatasetDict's validation split, else "
        "a seeded 10%% of --data held out)",
    )
    p.add_argument("--split", default=None, help="the split of a DatasetDict --data directory (default: train)")
    p.add_argument(
        "--val-split",
        default=None,
        help="the split of a DatasetDict that gives the validation records (default: validation, where it has one)",
    )
    add_column_flags(p)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--run-dir", required=True)
    add_training_flags(p)
    add_hub_flags(p)
    p.set_defaults(
        func=cmd_finetune,
        max_steps=300,
        learning_rate=5e-5,
        warmup_steps=30,
        eval_every=100,
        save_every=100,
        batch_size=32,
        schedule="linear",
    )


def add_column_flags(p) -> None:
    """--text-column ...: the columns (JSON fields) that hold a record's fields (``data.finetune.COLUMNS``)."""
    g = p.add_argument_group(
        "columns (default: a fine-tune run's own, recorded in its run.json; else Hugging Face's usual names; "
        "see docs/tasks_and_data.md)"
    )
    g.add_argument("--text-column", default=None, help="the text (tag: the words); default text, sentence, sentence1")
    g.add_argument("--text-pair-column", default=None, help="the second text; default text_pair, sentence2")
    g.add_argument("--label-column", default=None, help="the label (tag: the tags); default label, labels")
    g.add_argument("--question-column", default=None, help="qa: the question; default question")
    g.add_argument("--context-column", default=None, help="qa, choice: the context; default context")
    g.add_argument("--answer-column", default=None, help="qa: the answer; default answer, answers (SQuAD's)")
    g.add_argument("--choices-column", default=None, help="choice: the choices; default choices, endings")


def column_options(args: argparse.Namespace) -> dict:
    return {name: getattr(args, f"{name}_column") for name in COLUMN_OPTIONS}


def cmd_demo(args: argparse.Namespace) -> int:
    from ..recipes.demo import run_demo

    run_demo(
        task=args.task, run_dir=args.run_dir, quick=args.quick, steps=args.steps, seed=args.seed, progress=args.progress
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    return run_distributed(args, _train)


def _train(args: argparse.Namespace, info) -> int:
    from ..recipes.train import TrainSpec, train

    for flag in ("init_from", "tokenizer_from"):  # a model by name: its directory in the Hugging Face cache
        if getattr(args, flag):
            setattr(args, flag, model_path(getattr(args, flag), args))
    spec = from_args(TrainSpec, args)  # checks the job's options before any work
    result = train(spec, training_arguments(args), info)
    if not info.is_main:
        return 0
    summary = f"trained to step {result.step} in {result.seconds:.0f} s"
    if result.best_metric is not None:
        summary += f"; best {spec.metric} {result.best_metric:.4f} at step {result.best_step}"
    print(summary)
    evals = [h for h in result.history if "eval" in h]
    if evals and evals[0]["step"] == 0:  # a pretrained start: before and after
        before, after = evals[0]["eval"], evals[-1]["eval"]
        print(
            f"validation perplexity {before['perplexity']:.2f} before the first step, "
            f"{after['perplexity']:.2f} after step {evals[-1]['step']}"
        )
    print(f"model, tokenizer(s) and metrics in {args.run_dir}")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    return run_distributed(args, _finetune)


def _finetune(args: argparse.Namespace, info) -> int:
    from ..recipes.bert_finetune import finetune

    result, _ = finetune(
        args.run_dir,
        model_dir=model_path(args.model, args),
        task=args.task,
        data=args.data,
        val=args.val,
        args=training_arguments(args),
        max_length=args.max_length,
        resume=args.resume,
        device=args.device,
        dist_info=info,
        columns=column_options(args),
        split=args.split,
        val_split=args.val_split,
    )
    if not info.is_main:
        return 0
    print(
        f"fine-tuned {result.step} steps in {result.seconds:.0f} s; best validation score "
        f"{result.best_metric:.4f} at step {result.best_step}"
    )
    print(
        f"model and tokenizer in {args.run_dir}; try: einformer predict {args.run_dir} --data {args.val or args.data}"
    )
    return 0
