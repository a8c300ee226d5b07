"""``einformer generate``, ``translate`` and ``evaluate``: every model through ``einformer.load``."""

from __future__ import annotations

import argparse
import json
import sys

from .common import add_hub_flags, add_model_flags, hub_options, model_options, texts_or_stdin


def register(sub) -> None:
    p = sub.add_parser("generate", help="continue text with a language model, streamed as it comes")
    p.add_argument("run", help="a language model: a run of `einformer train --model gpt|transformer-xl`, or its model")
    p.add_argument("--prompt", default=None, help="the prompt; none = one prompt per line of standard input")
    p.add_argument("--max-new-tokens", type=int, default=None, help="default: generation_config.json's, else 200")
    p.add_argument("--temperature", type=float, default=None, help="default: generation_config.json's, else 0.8")
    p.add_argument("--top-k", type=int, default=None, help="default: generation_config.json's, else 50")
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--num-beams", type=int, default=None)
    p.add_argument("--greedy", action="store_true", help="greedy decoding instead of sampling")
    p.add_argument("--seed", type=int, default=None, help="seed for reproducible sampling")
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
    from ..inference import TextGenerator

    generator = TextGenerator.from_loaded(load(args.run, **hub_options(args), **model_options(args)), "generate")
    flags = {k: getattr(args, k) for k in ("max_new_tokens", "temperature", "top_k", "top_p", "num_beams", "seed")}
    if args.greedy:
        flags["do_sample"] = False
    prompts = [args.prompt] if args.prompt is not None else [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not prompts:
        raise ValueError("no prompt: pass --prompt TEXT or lines on standard input")
    options = generator.options(prompts, {k: v for k, v in flags.items() if v is not None})
    if args.prompt is not None:  # one prompt: stream it to the terminal (beam search: all at once)
        print(args.prompt, end="", flush=True)
        beams = options.get("num_beams", 1) > 1
        for piece in generator.generate(prompts, **options) if beams else generator.stream(args.prompt, **options):
            print(piece, end="", flush=True)
        print()
        return 0
    for i, completion in enumerate(generator.generate(prompts, **options)):
        print(("---\n" if i else "") + prompts[i] + completion)
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
