"""The ``einformer`` command: one subcommand, one library function. No logic lives only here."""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__


def cmd_env(args: argparse.Namespace) -> int:
    from .env import collect_env, format_env

    report = collect_env()
    print(json.dumps(report, indent=2) if args.json else format_env(report))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .recipes.demo import run_demo

    run_demo(
        task=args.task,
        run_dir=args.run_dir,
        quick=args.quick,
        steps=args.steps,
        seed=args.seed,
        progress=not args.no_progress,
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    return _distributed(args, _train)


def _distributed(args: argparse.Namespace, job) -> int:
    """Run ``job(args, dist_info)``: relaunched under torchrun for --nproc-per-node N, else in this process."""
    from .training import distributed

    if args.nproc_per_node > 1 and "LOCAL_RANK" not in os.environ:  # start the workers under torchrun
        argv = _without_option(args.argv, "--nproc-per-node")
        return distributed.relaunch_with_torchrun(args.nproc_per_node, argv)
    info = distributed.setup(
        backend=args.backend, init_method=args.init_method, device=args.device, timeout_s=args.dist_timeout
    )
    try:
        return job(args, info)
    finally:
        distributed.teardown()


def _without_option(argv: list[str], flag: str) -> list[str]:
    """argv without ``flag VALUE`` / ``flag=VALUE``."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == flag:
            skip = True
        elif not item.startswith(flag + "="):
            out.append(item)
    return out


def training_arguments(args: argparse.Namespace):
    """The --steps, --lr, ... flags of `_add_training_flags` as TrainingArguments."""
    from .training import TrainingArguments

    return TrainingArguments(
        max_steps=args.steps,
        batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        learning_rate=args.lr,
        warmup_steps=args.warmup,
        schedule=args.schedule,
        weight_decay=args.weight_decay,
        max_grad_norm=args.clip or None,
        precision=args.precision,
        eval_every=args.eval_every,
        save_every=args.save_every,
        log_every=args.log_every,
        patience=args.patience,
        seed=args.seed,
        progress=not args.no_progress,
    )


def _train(args: argparse.Namespace, info) -> int:
    training = training_arguments(args)
    overrides = {
        k: v
        for k, v in (
            ("dropout", args.dropout),
            ("label_smoothing", args.label_smoothing),
            ("norm_first", args.norm_first),
            ("d_model", args.d_model),
            ("n_heads", args.heads),
        )
        if v is not None
    }
    if args.model == "bert":
        from .recipes.bert_pretrain import pretrain_bert

        if args.data is None:
            raise ValueError("--model bert pre-trains on a text file (one segment per line): pass --data FILE.txt")
        if args.layers is not None:
            overrides["n_layers"] = args.layers
        overrides = {k: v for k, v in overrides.items() if k not in ("label_smoothing", "norm_first")}
        result = pretrain_bert(
            args.run_dir,
            data=args.data,
            preset=args.preset or "small",
            model_overrides=overrides,
            vocab_size=args.vocab_size,
            tokenizer_from=args.tokenizer_from,
            max_length=args.block_size,
            whole_word=args.whole_word_masking,
            next_sentence=args.next_sentence,
            args=training,
            resume=args.resume,
            device=args.device,
            dist_info=info,
        )
        metric = "masked-LM loss"
    elif args.model == "gpt":
        from .recipes.language_model import train_lm

        if args.data is None:
            raise ValueError("--model gpt trains on a text file: pass --data FILE.txt")
        overrides.pop("label_smoothing", None)
        if args.dropout is not None:  # GPT-2 has three dropouts; the flag sets them all
            overrides.update(embedding_dropout=args.dropout, attention_dropout=args.dropout)
        if args.layers is not None:
            overrides["n_layers"] = args.layers
        result, run = train_lm(
            args.run_dir,
            data=args.data,
            tokenizer=args.tokenizer or "char",
            vocab_size=args.vocab_size,
            preset=args.preset or "small",
            model_overrides=overrides,
            block_size=args.block_size,
            sampling=args.sampling,
            args=training,
            resume=args.resume,
            device=args.device,
            dist_info=info,
            fsdp=args.fsdp,
        )
        metric = "validation loss"
    else:
        from .recipes.seq2seq import train_seq2seq

        if args.layers is not None:
            overrides.update(n_encoder_layers=args.layers, n_decoder_layers=args.layers)
        result, run, _ = train_seq2seq(
            args.run_dir,
            task=args.task,
            data=args.data,
            target_file=args.target_file,
            val=args.val,
            val_target_file=args.val_target_file,
            source_field=args.source_field,
            target_field=args.target_field,
            tokenizer=args.tokenizer or "bpe",
            vocab_size=args.vocab_size,
            share_vocab=args.share_vocab,
            preset=args.preset or "small",
            model_overrides=overrides,
            args=training,
            n_train=args.n_train,
            on_long=args.on_long,
            resume=args.resume,
            seed=args.seed,
            device=args.device,
            dist_info=info,
            fsdp=args.fsdp,
        )
        metric = "exact_match" if args.task else "validation loss"
    if not info.is_main:
        return 0
    summary = f"trained to step {result.step} in {result.seconds:.0f} s"
    if result.best_metric is not None:
        summary += f"; best {metric} {result.best_metric:.4f} at step {result.best_step}"
    print(summary)
    print(f"model, tokenizer(s) and metrics in {args.run_dir}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .recipes.language_model import generate_text, load_lm_run

    run = load_lm_run(args.run)
    options = dict(
        max_new_tokens=args.max_new_tokens,
        do_sample=not args.greedy and args.num_beams == 1,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        num_beams=args.num_beams,
        seed=args.seed,
    )
    if args.prompt is not None:  # one prompt: stream it to the terminal
        print(args.prompt, end="", flush=True)
        for piece in generate_text(run, [args.prompt], stream=args.num_beams == 1, **options):
            print(piece, end="", flush=True)
        print()
        return 0
    prompts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not prompts:
        raise ValueError("no prompt: pass --prompt TEXT or lines on standard input")
    for i, completion in enumerate(generate_text(run, prompts, **options)):
        print(("---\n" if i else "") + prompts[i] + completion)
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from .recipes.seq2seq import load_run

    run = load_run(args.run)
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise ValueError("nothing to translate: give TEXT arguments or lines on standard input")
    for output in run.translate(
        texts, num_beams=args.num_beams, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size
    ):
        print(output)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .data.pairs import read_pairs
    from .recipes.seq2seq import load_data, load_run

    run = load_run(args.run)
    if args.data:
        pairs = read_pairs(args.data, target_path=args.target_file)
    elif run.info.get("task"):
        i = run.info
        _, _, pairs, _ = load_data(
            task=i["task"], data=None, n_train=0, n_val=i["n_val"], n_test=i["n_test"], seed=i["seed"]
        )
    else:
        raise ValueError("this run was trained on your own data: pass the test pairs with --data FILE")
    metrics = run.evaluate(pairs[: args.limit] if args.limit else pairs, num_beams=args.num_beams)
    print(json.dumps(metrics) if args.json else "\n".join(f"{k:<12} {v:.4f}" for k, v in metrics.items()))
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from . import BertModel, embed, load_tokenizer

    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise ValueError("nothing to embed: give TEXT arguments or lines on standard input")
    vectors = embed(BertModel.from_pretrained(args.model), load_tokenizer(args.model), texts)
    if args.json:
        for text, vector in zip(texts, vectors.tolist(), strict=True):
            print(json.dumps({"text": text, "embedding": [round(x, 6) for x in vector]}))
        return 0
    print(f"{len(texts)} embeddings of {vectors.shape[1]} dimensions (unit length); cosine similarities:")
    similarity = vectors @ vectors.T
    for i, text in enumerate(texts):
        print(" ".join(f"{similarity[i, j]:6.3f}" for j in range(len(texts))) + f"  {text[:60]}")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    return _distributed(args, _finetune)


def _finetune(args: argparse.Namespace, info) -> int:
    from .recipes.bert_finetune import finetune

    training = training_arguments(args)
    result, run = finetune(
        args.run_dir,
        model_dir=args.model,
        task=args.task,
        data=args.data,
        val=args.val,
        args=training,
        max_length=args.max_length,
        device=args.device,
        dist_info=info,
    )
    if not info.is_main:
        return 0
    print(
        f"fine-tuned {result.step} steps in {result.seconds:.0f} s; best validation score "
        f"{result.best_metric:.4f} at step {result.best_step}"
    )
    print(f"model and tokenizer in {args.run_dir}; try: einformer predict {args.run_dir} --data {args.val}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .data.finetune import encode_records, read_records
    from .recipes.bert_finetune import evaluate_examples, load_finetune_run

    run = load_finetune_run(args.run)
    task, labels = run.info["task"], run.info["labels"]
    if args.data:
        records = read_records(args.data, task)
        examples = encode_records(records, task, run.tokenizer, labels, run.info["max_length"])
        if args.evaluate:
            print(json.dumps(evaluate_examples(run, examples)))
            return 0
    else:
        if task not in ("classify", "regress"):
            raise ValueError(f"a {task} run reads JSONL records: pass --data FILE")
        texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
        examples = [
            {**run.tokenizer(t, truncation=True, max_length=run.info["max_length"]), "labels": 0} for t in texts
        ]
    predictions = []
    for i in range(0, len(examples), 64):
        predictions += run.predict_batch(examples[i : i + 64])
    for p in predictions:
        print(json.dumps(p))
    return 0


def _add_training_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--steps", type=int, default=2000, help="optimizer steps (default 2000)")
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    g.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    g.add_argument("--warmup", type=int, default=400, help="warm-up steps")
    g.add_argument("--schedule", default="inverse_sqrt", choices=["inverse_sqrt", "linear", "cosine", "constant"])
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (0 = off)")
    g.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    g.add_argument("--eval-every", type=int, default=500)
    g.add_argument("--log-every", type=int, default=10, help="steps between loss lines in metrics.jsonl")
    g.add_argument("--save-every", type=int, default=500)
    g.add_argument("--patience", type=int, default=None, help="stop after N evaluations without improvement")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    g.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    d = p.add_argument_group("distributed (see docs/distributed.md)")
    d.add_argument("--nproc-per-node", type=int, default=1, help="processes on this machine, started with torchrun")
    d.add_argument("--backend", default="auto", choices=["auto", "gloo", "nccl"], help="auto: nccl on CUDA, else gloo")
    d.add_argument("--init-method", default=None, help="e.g. tcp://HOST:PORT (default: torchrun's env://)")
    d.add_argument("--dist-timeout", type=float, default=300.0, help="seconds before a stuck collective fails")
    d.add_argument("--fsdp", action="store_true", help="shard parameters with FSDP2 instead of replicating them")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="einformer",
        description="The Transformer, understood and used: train, generate, explain.",
    )
    parser.add_argument("--version", action="version", version=f"einformer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("env", help="report torch, CUDA, cuDNN, NCCL, GPUs and package versions")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("demo", help="train a Transformer on a built-in task in ~2 minutes, translate, draw attention")
    p.add_argument(
        "--task", default="numbers-en", help="numbers-en (default), numbers-zh, dates, copy, reverse, sort, addition"
    )
    p.add_argument("--run-dir", default=None, help="where to write the run (default runs/demo-TASK, never reused)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 1500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a tiny run that checks the pipeline in seconds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a model on a built-in task or your own data")
    p.add_argument(
        "--model",
        default="encoder-decoder",
        choices=["encoder-decoder", "gpt", "bert"],
        help="architecture (bert: masked-LM pre-training)",
    )
    p.add_argument("--whole-word-masking", action="store_true", help="bert: mask whole words")
    p.add_argument("--next-sentence", action="store_true", help="bert: add next-sentence prediction")
    p.add_argument("--tokenizer-from", default=None, help="bert: reuse this directory's tokenizer")
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
    p.add_argument("--block-size", type=int, default=256, help="gpt: context length in tokens")
    p.add_argument("--sampling", default="random", choices=["random", "contiguous"], help="gpt: block sampling")
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--label-smoothing", type=float, default=None)
    p.add_argument("--norm-first", action="store_const", const=True, default=None, help="pre-norm (default post)")
    p.add_argument("--n-train", type=int, default=50000, help="examples drawn from a built-in task")
    p.add_argument("--on-long", default="truncate", choices=["truncate", "error"], help="over-long examples")
    p.add_argument("--run-dir", required=True, help="where to write the run")
    _add_training_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", help="continue text with a trained language model, streamed as it comes")
    p.add_argument("run", help="a run directory of `einformer train --model gpt`")
    p.add_argument("--prompt", default=None, help="the prompt; none = one prompt per line of standard input")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--num-beams", type=int, default=1)
    p.add_argument("--greedy", action="store_true", help="greedy decoding instead of sampling")
    p.add_argument("--seed", type=int, default=None, help="seed for reproducible sampling")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("finetune", help="fine-tune a BERT (Hugging Face's or ours) on a JSONL task")
    p.add_argument("--model", required=True, help="a BERT directory, e.g. all-MiniLM-L6-v2")
    p.add_argument("--task", required=True, choices=["classify", "regress", "tag", "qa", "choice"])
    p.add_argument("--data", required=True, help="training records (JSONL; see docs/bert.md for the fields)")
    p.add_argument("--val", required=True, help="validation records (JSONL)")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--run-dir", required=True)
    _add_training_flags(p)
    p.set_defaults(
        func=cmd_finetune,
        steps=300,
        lr=5e-5,
        warmup=30,
        eval_every=100,
        save_every=100,
        batch_size=32,
        schedule="linear",
    )

    p = sub.add_parser("predict", help="predictions of a fine-tuned BERT run")
    p.add_argument("run", help="a run directory of `einformer finetune`")
    p.add_argument("text", nargs="*", help="texts to classify (classify/regress); none = standard input")
    p.add_argument("--data", default=None, help="JSONL records of the run's task")
    p.add_argument("--evaluate", action="store_true", help="with --data: print the task's metrics")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("embed", help="sentence embeddings (mean pooling, normalised) from a BERT directory")
    p.add_argument("model", help="a BERT directory: Hugging Face's (e.g. all-MiniLM-L6-v2) or ours")
    p.add_argument("text", nargs="*", help="texts; none = read standard input")
    p.add_argument("--json", action="store_true", help="one JSON line per text with its vector")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("translate", help="translate TEXT (or lines of standard input) with a trained run")
    p.add_argument("run", help="a run directory")
    p.add_argument("text", nargs="*", help="texts to translate; none = read standard input")
    p.add_argument("--num-beams", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("evaluate", help="exact match (built-in tasks) or BLEU (your data) of a trained run")
    p.add_argument("run", help="a run directory")
    p.add_argument("--data", default=None, help="test pairs (TSV/JSONL, or source file with --target-file)")
    p.add_argument("--target-file", default=None)
    p.add_argument("--num-beams", type=int, default=1)
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N pairs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, OSError, ImportError) as e:
        # A user mistake: one or two lines, no traceback.
        print(f"einformer {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
