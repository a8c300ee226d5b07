"""``einformer export``: a run or model directory as a model directory with its tokenizer."""

from __future__ import annotations

import argparse

from ..recipes.export import FORMATS
from .common import add_hub_flags, model_path


def register(sub) -> None:
    p = sub.add_parser("export", help="write a run as a model directory (Hugging Face's format by default)")
    p.add_argument("model", help="a run or model directory (for --format hf: a family with a Hugging Face format)")
    p.add_argument("out", help="the directory to write")
    p.add_argument("--format", default="hf", choices=list(FORMATS), help="hf: transformers reads it")
    p.add_argument("--overwrite", action="store_true", help="write into OUT even when it holds files (never a run)")
    p.add_argument(
        "--max-shard-size",
        metavar="SIZE",
        help="hf: shard the weights past SIZE (500MB, 5GB, 2GiB or bytes) with model.safetensors.index.json, "
        "as transformers does (default: its 50GB)",
    )
    add_hub_flags(p)
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ..recipes.export import export

    out = export(
        model_path(args.model, args),
        args.out,
        format=args.format,
        overwrite=args.overwrite,
        max_shard_size=args.max_shard_size,
    )
    shards = sorted(out.glob("model-*-of-*.safetensors"))
    print(f"exported {args.model} to {out} ({args.format} format" + (f", {len(shards)} shards)" if shards else ")"))
    return 0
