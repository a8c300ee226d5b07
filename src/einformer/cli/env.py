"""``einformer env``: torch, CUDA, cuDNN, NCCL, GPUs and package versions."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser("env", help="report torch, CUDA, cuDNN, NCCL, GPUs and package versions")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(func=cmd_env)


def cmd_env(args: argparse.Namespace) -> int:
    from ..env import collect_env, format_env

    report = collect_env()
    print(json.dumps(report, indent=2) if args.json else format_env(report))
    return 0
