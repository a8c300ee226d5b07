"""``einformer download NAME``: a model's files into the Hugging Face cache ahead of time (``einformer.hub``)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("download", help="fetch a model by name (ORG/NAME) into the Hugging Face cache, for offline use")
    p.add_argument(
        "name", help="a model on the Hugging Face Hub (or the mirror HF_ENDPOINT names), e.g. openai-community/gpt2"
    )
    p.add_argument("--revision", default=None, help="a branch, tag or commit hash (default main)")
    p.add_argument("--cache-dir", default=None, help="the cache (default HF_HUB_CACHE, else HF_HOME/hub)")
    p.add_argument("--token", default=None, help="for a private or gated model (default HF_TOKEN, else your login)")
    p.set_defaults(func=cmd_download)


def cmd_download(args: argparse.Namespace) -> int:
    from ..hub import fetch

    snapshot = fetch(args.name, revision=args.revision, cache_dir=args.cache_dir, token=args.token)
    files = sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file())
    print(f"{args.name} at commit {snapshot.name}: {len(files)} files in {snapshot}")
    for name in files:
        print(f"  {name}")
    return 0
