"""The ``einformer`` command: one subcommand, one library function. No logic lives only here."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__


def cmd_env(args: argparse.Namespace) -> int:
    from .env import collect_env, format_env

    report = collect_env()
    print(json.dumps(report, indent=2) if args.json else format_env(report))
    return 0


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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, OSError) as e:
        # A user mistake: one or two lines, no traceback.
        print(f"einformer {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
