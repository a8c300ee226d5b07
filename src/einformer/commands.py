"""The ``einformer`` subcommands: each parses nothing and calls one library function.

``einformer.cli`` builds the argument parser and dispatches here; no logic lives only in either.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


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
        data_parallel=args.data_parallel,
    )


def lengths_flag(value: str | None, flag: str) -> tuple[int, int] | None:
    """ "MIN,MAX" -> (MIN, MAX); a clear error otherwise."""
    if value is None:
        return None
    try:
        low, high = (int(x) for x in value.split(","))
    except ValueError:
        raise ValueError(f"{flag} takes MIN,MAX such as 1,10; got {value!r}") from None
    if not 1 <= low <= high:
        raise ValueError(f"{flag}: need 1 <= MIN <= MAX, got {value!r}")
    return low, high


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
            ("d_ff", args.d_ff),
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
    elif args.model in ("gpt", "transformer-xl"):
        from .recipes.language_model import train_lm

        if args.data is None:
            raise ValueError(f"--model {args.model} trains on a text file: pass --data FILE.txt")
        overrides.pop("label_smoothing", None)
        if args.model == "gpt" and args.dropout is not None:  # GPT-2 has three dropouts; the flag sets them all
            overrides.update(embedding_dropout=args.dropout, attention_dropout=args.dropout)
        if args.model == "transformer-xl" and "d_ff" in overrides:
            overrides["d_inner"] = overrides.pop("d_ff")
        if args.model == "gpt" and (args.mem_len is not None or args.seg_len is not None):
            raise ValueError("--mem-len and --seg-len are for --model transformer-xl; a GPT takes --block-size")
        if args.layers is not None:
            overrides["n_layers"] = args.layers
        result, run = train_lm(
            args.run_dir,
            data=args.data,
            architecture=args.model,
            mem_len=args.mem_len,
            segment_length=args.seg_len,
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

        architecture = "universal-transformer" if args.model == "universal" else "encoder-decoder"
        if architecture == "universal-transformer":
            if args.layers is not None:
                raise ValueError("--layers is for the encoder-decoder; the Universal Transformer takes --ut-steps")
            overrides["act"] = args.act
            for key, value in (
                ("max_steps", args.ut_steps),
                ("act_mode", args.act_mode),
                ("ponder_weight", args.ponder_weight),
            ):
                if value is not None:
                    overrides[key] = value
        elif args.act or args.ut_steps is not None:
            raise ValueError("--act and --ut-steps need --model universal")
        elif args.layers is not None:
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
            architecture=architecture,
            preset=args.preset or "small",
            model_overrides=overrides,
            args=training,
            train_lengths=lengths_flag(args.train_lengths, "--train-lengths"),
            test_lengths=lengths_flag(args.test_lengths, "--test-lengths"),
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


def task_test_pairs(info: dict) -> list[tuple[str, str]]:
    """The held-out test pairs of a run trained on a built-in task, drawn again from its run.json."""
    from .recipes.seq2seq import load_data

    lengths = {k: tuple(info[k]) if info.get(k) else None for k in ("train_lengths", "test_lengths")}
    _, _, pairs, _ = load_data(
        task=info["task"],
        data=None,
        n_train=0,
        n_val=info["n_val"],
        n_test=info["n_test"],
        seed=info["seed"],
        **lengths,
    )
    return pairs


def _evaluate_lm(args: argparse.Namespace) -> int:
    """Bits per character of a language-model run on --data, or on its own validation split."""
    from .data.text import read_text
    from .recipes.language_model import load_lm_run

    run = load_lm_run(args.run)
    if args.data:
        text = read_text(args.data)
    else:
        text = read_text(run.info["data"])[run.info["split_char"] :]
    metrics = run.evaluate(text, mem_len=args.mem_len, segment_length=args.seg_len, max_blocks=args.limit)
    print(json.dumps(metrics) if args.json else "\n".join(f"{k:<14} {v:.4f}" for k, v in metrics.items()))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .data.pairs import read_pairs
    from .recipes import run_kind
    from .recipes.seq2seq import load_run

    if run_kind(args.run) == "language-model":
        return _evaluate_lm(args)
    run = load_run(args.run)
    if args.data:
        pairs = read_pairs(args.data, target_path=args.target_file)
    elif run.info.get("task"):
        pairs = task_test_pairs(run.info)
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
