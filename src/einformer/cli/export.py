"""``einformer export``: a run or model directory as a model directory with its tokenizer."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("export", help="write a run as a model directory (Hugging Face's format by default)")
    p.add_argument("model", help="a run or model directory (a GPT or BERT for --format hf)")
    p.add_argument("out", help="the directory to write")
    p.add_argument("--format", default="hf", choices=["hf", "einformer"], help="hf: transformers reads it")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ..recipes.export import export

    print(f"exported {args.model} to {export(args.model, args.out, format=args.format)} ({args.format} format)")
    return 0
