"""The ``einformer`` command. One module per job, each with its parsers beside their handlers;
a handler parses nothing and calls the library (no logic lives only here).

    env.py      einformer env
    train.py    einformer demo, train, finetune
    generate.py einformer generate, translate, evaluate
    bert.py     einformer embed, predict
    explain.py  einformer attention, probe, ponder
"""

from __future__ import annotations

import argparse
import sys

from ..version import __version__
from . import bert, env, explain, generate, train

JOBS = (env, train, generate, bert, explain)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="einformer",
        description="The Transformer, understood and used: train, generate, explain.",
    )
    parser.add_argument("--version", action="version", version=f"einformer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for job in JOBS:
        job.register(sub)
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
