"""The ``einformer`` command. One module per job, each with its parsers beside their handlers;
a handler parses nothing and calls the library (no logic lives only here).

    env.py      einformer env
    train.py    einformer demo, train, finetune
    generate.py einformer generate, translate, evaluate
    chat.py     einformer chat
    bert.py     einformer embed, predict
    explain.py  einformer attention, probe, ponder
    download.py einformer download (a model by name into the Hugging Face cache)
"""

from __future__ import annotations

import argparse
import errno
import shlex
import sys
import warnings

from ..notices import one_line
from ..version import __version__
from . import bert, chat, download, env, explain, export, generate, train

JOBS = (env, download, train, generate, chat, export, bert, explain)


def _expected() -> tuple[type[BaseException], ...]:
    """The errors einformer raises for a user's input: their message is the whole story."""
    from ..errors import EinformerError

    return (EinformerError, ValueError, OSError, ImportError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="einformer",
        description="The Transformer, understood and used: train, generate, explain.",
    )
    parser.add_argument("--version", action="version", version=f"einformer {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an unexpected error")
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
        formatter, warnings.formatwarning = warnings.formatwarning, one_line  # one line, no source line
        try:
            return args.func(args)
        finally:
            warnings.formatwarning = formatter
    except KeyboardInterrupt:
        if not report_to_launcher("interrupted", interrupted=True):  # under the launcher, it prints the hint once
            print(f"einformer {args.command}: interrupted. {_resume_hint(args)}", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        if not report_to_launcher(error_message(e).splitlines()[0], expected=isinstance(e, _expected())):
            print(f"einformer {args.command}: error: {error_message(e)}", file=sys.stderr)
        return 2


def report_to_launcher(message: str, **kind) -> bool:
    """A worker of ``--nproc-per-node N`` leaves its error for the launcher, which prints one line."""
    from ..training.distributed import report_to_launcher

    return report_to_launcher(message, **kind)


def error_message(e: BaseException) -> str:
    """One or two lines: the message of an error einformer raises (it names the input and the fix),
    or the kind of an unexpected one with the way to its traceback."""
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return f"no space left on the device ({e.filename or 'while writing'}); free some, then --resume"
    if isinstance(e, _expected()):
        return str(e)
    return f"unexpected {type(e).__name__}: {e} (run again with einformer --debug ... for the traceback)"


def _resume_hint(args: argparse.Namespace) -> str:
    """Where an interrupted training stands, and the command that continues it."""
    run_dir = getattr(args, "run_dir", None)
    if args.command not in ("train", "finetune") or not run_dir:
        return ""
    from ..training.run_checkpoints import published_step

    step = published_step(run_dir)
    if step is None:
        return "No checkpoint was saved yet."
    again = " ".join(shlex.quote(a) for a in args.argv if a != "--resume")  # pastable: paths with spaces
    return f"The last checkpoint is step {step} in {run_dir}; continue with: einformer {again} --resume"


if __name__ == "__main__":
    raise SystemExit(main())
