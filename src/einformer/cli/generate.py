"""``einformer generate``, ``translate`` and ``evaluate``: every model through ``einformer.load``."""

from __future__ import annotations

import argparse
import json
import sys

from .common import add_hub_flags, add_model_flags, hub_options, model_options, texts_or_stdin

# generate's options a user tunes from a shell: (flag, type, help); each passes to the option of its name
GENERATE_FLAGS = (
    ("--max-new-tokens", int, "tokens to add (default: generation_config.json's, else 200 or what the context holds)"),
    ("--min-new-tokens", int, "no EOS before this many new tokens"),
    ("--temperature", float, "sampling: divide the logits by this (< 1 sharper, > 1 flatter)"),
    ("--top-k", int, "sampling: keep the k most likely tokens (0 = off; transformers' default 50)"),
    ("--top-p", float, "sampling: keep the smallest set of tokens whose probability reaches p"),
    ("--min-p", float, "sampling: drop tokens below min_p x the most likely token's probability"),
    ("--typical-p", float, "sampling: locally typical sampling's mass"),
    ("--repetition-penalty", float, "divide the scores of tokens already seen (1 = off; CTRL's 1.2)"),
    ("--no-repeat-ngram-size", int, "never repeat an n-gram of this size (0 = off)"),
    ("--num-beams", int, "beam search with this many beams (1 = off)"),
    ("--length-penalty", float, "beam search: score / length ** this (> 0 favours longer sequences)"),
    ("--num-return-sequences", int, "completions per prompt (sampling, or up to --num-beams beams)"),
    ("--seed", int, "seed of the sampling's random stream (reproducible runs)"),
)


def register(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="continue text with a language model, streamed as it comes",
        description="Continue PROMPT with a language model. Decoding follows the model's generation_config.json "
        "as transformers does (greedy when it sets nothing; runs einformer trains ask for sampling there); "
        "every flag overrides it.",
    )
    p.add_argument("run", help="a language model: a run of `einformer train --model gpt|transformer-xl`, or its model")
    p.add_argument("prompts", nargs="*", metavar="PROMPT", help="prompts; none or '-' = one per line of standard input")
    p.add_argument("--prompt", action="append", default=None, help="a prompt (as PROMPT; repeatable)")
    g = p.add_argument_group("generation options (default: the model's generation_config.json)")
    g.add_argument(
        "--do-sample",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="sample (--no-do-sample: greedy search, or beam search with --num-beams)",
    )
    g.add_argument("--greedy", dest="do_sample", action="store_const", const=False, help="the same as --no-do-sample")
    for flag, kind, text in GENERATE_FLAGS:
        g.add_argument(flag, type=kind, default=None, help=text)
    g.add_argument(
        "--stop-strings", action="append", default=None, metavar="TEXT", help="stop after this text (repeatable)"
    )
    g.add_argument(
        "--sliding-window",
        action="store_true",
        help="past an absolute-position model's context (GPT), go on in windows that re-read the last half "
        "context (nanoGPT's; an approximation); without it such a request is refused",
    )
    add_hub_flags(p)
    add_model_flags(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("translate", help="translate TEXT (or lines of standard input) with a trained run")
    p.add_argument("run", help="a sequence-to-sequence run directory")
    p.add_argument("text", nargs="*", help="texts to translate; none = read standard input")
    p.add_argument(
        "--num-beams", type=int, default=None, help="beams (default: the model's generation_config.json, else 4)"
    )
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=64)
    add_hub_flags(p)
    add_model_flags(p)
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("evaluate", help="exact match or BLEU of a seq2seq run; bits per character of a language model")
    p.add_argument("run", help="a run directory")
    p.add_argument(
        "--data",
        default=None,
        help="test pairs (TSV/JSONL, or source file with --target-file); for a language model a text file "
        "(default: its own validation split)",
    )
    p.add_argument("--mem-len", type=int, default=None, help="transformer-xl: memory length at evaluation")
    p.add_argument("--seg-len", type=int, default=None, help="transformer-xl: segment length at evaluation")
    p.add_argument("--target-file", default=None)
    p.add_argument("--num-beams", type=int, default=1)
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N pairs")
    p.add_argument("--json", action="store_true")
    add_hub_flags(p)
    add_model_flags(p)
    p.set_defaults(func=cmd_evaluate)


def cmd_generate(args: argparse.Namespace) -> int:
    from ..auto import load
    from ..inference import TextGenerator, generation_note

    generator = TextGenerator.from_loaded(load(args.run, **hub_options(args), **model_options(args)), "generate")
    names = ["do_sample", "stop_strings", *(flag[2:].replace("-", "_") for flag, _, _ in GENERATE_FLAGS)]
    options = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    note = generation_note(generator, options)
    if note:
        print(f"einformer generate: note: {note}", file=sys.stderr)
    prompts = [*(args.prompt or []), *args.prompts]
    if prompts in ([], ["-"]):
        prompts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not prompts:
        raise ValueError('no prompt: give one (einformer generate DIR "Once upon a time") or lines on standard input')
    n = options.get("num_return_sequences", generator.model.generation_config.num_return_sequences)
    if len(prompts) == 1 and generator.streams(options):  # stream it to the terminal
        pieces = generator.stream(prompts[0], sliding_window=args.sliding_window, **options)
        print(prompts[0] + next(pieces, ""), end="", flush=True)  # the options are checked by the first token
        for piece in pieces:
            print(piece, end="", flush=True)
        print()
        return 0
    completions = generator.generate(prompts, sliding_window=args.sliding_window, **options)
    for i, completion in enumerate(completions):  # n per prompt, grouped per prompt
        prompt = prompts[i // n]
        header = f"=== prompt {i // n + 1}, sequence {i % n + 1} of {n} ===\n" if n > 1 else "---\n" if i else ""
        print(header + prompt + completion)
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from ..auto import load
    from ..inference import Translator

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    translator = Translator.from_loaded(
        load(args.run, what="seq2seq run", **hub_options(args), **model_options(args)), "translate"
    )
    texts = texts_or_stdin(args.text, "translate")
    for output in translator.translate(
        texts, num_beams=args.num_beams, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size
    ):
        print(output)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..auto import load
    from ..data.pairs import read_pairs
    from ..data.text import read_text
    from ..generation.kinds import CausalLM, MemoryLM
    from ..recipes.language_model import LMRun
    from ..recipes.seq2seq import Seq2SeqRun

    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    loaded = load(args.run, **hub_options(args), **model_options(args))
    if isinstance(loaded.model, (CausalLM, MemoryLM)):  # bits per character of a language model
        run = LMRun.from_loaded(loaded, "evaluate")
        text = read_text(args.data) if args.data else run.validation_text()
        metrics = run.evaluate(text, mem_len=args.mem_len, segment_length=args.seg_len, max_blocks=args.limit)
        width = 14
    else:
        run = Seq2SeqRun.from_loaded(loaded, "evaluate")
        pairs = read_pairs(args.data, target_path=args.target_file) if args.data else run.test_pairs()
        metrics = run.evaluate(pairs[: args.limit] if args.limit else pairs, num_beams=args.num_beams)
        width = 12
    print(json.dumps(metrics) if args.json else "\n".join(f"{k:<{width}} {v:.4f}" for k, v in metrics.items()))
    return 0
