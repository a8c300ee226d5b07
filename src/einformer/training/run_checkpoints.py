"""Atomic checkpoints in a run directory, and the cleanup of a crashed write.

A checkpoint is one atomic unit: the trainer writes every file of step N into a new
``checkpoint-N/`` directory (``new_checkpoint_dir``), then ``publish_checkpoint`` points ``last`` at
it with one rename of a symbolic link, so a kill at any moment leaves either the old checkpoint or
the new one, never a mix of two steps; leftovers of a crashed write are removed on the next start
(``clean_partial``), and only the names einformer writes (run_dir.py's patterns). A full disk while
writing is one ``DiskFullError`` (``writing``); ``pause`` is the crash tests' kill window.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from ..checkpoint import CheckpointError
from ..errors import DiskFullError, is_disk_full
from .run_dir import CHECKPOINT_FILES, CHECKPOINT_NAME, CHECKPOINT_PREFIX, LAST, TEMPORARY_NAME, last_checkpoint

PAUSE_VARIABLE = "EINFORMER_PAUSE_AT"  # tests: "NAME:STEP:SECONDS" sleeps there (a kill window)


def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / f"{CHECKPOINT_PREFIX}{step}"


def new_checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    """An empty ``checkpoint-STEP/`` to write step STEP's files into (a stale one from a crash removed)."""
    target = checkpoint_dir(run_dir, step)
    if target.is_symlink() or target.exists():
        if not _is_our_checkpoint(target):
            raise CheckpointError(
                f"{target} is in the way of step {step}'s checkpoint and is not einformer's (it holds "
                f"{', '.join(sorted(os.listdir(target))[:8]) if target.is_dir() else 'a link or file'}); move it away"
            )
        shutil.rmtree(target)
    target.mkdir(parents=True)
    return target


def _is_our_checkpoint(path: Path) -> bool:
    """A real ``checkpoint-N/`` folder inside the run that holds only a checkpoint's files (or their
    temporary names): what einformer wrote, and all it may delete. A Hugging Face Trainer's
    checkpoint-500/ (trainer_state.json, optimizer.pt ...) is not."""
    if path.is_symlink() or not path.is_dir() or not CHECKPOINT_NAME.fullmatch(path.name):
        return False
    return all(CHECKPOINT_FILES.fullmatch(n) or TEMPORARY_NAME.fullmatch(n) for n in os.listdir(path))


def publish_checkpoint(run_dir: str | Path, step: int) -> None:
    """Point ``last`` at ``checkpoint-STEP/`` in one atomic rename, then drop the checkpoint it replaces."""
    run_dir = Path(run_dir)
    target, last = checkpoint_dir(run_dir, step), run_dir / LAST
    _fsync_tree(target)
    pause("publish", step)
    previous = last_checkpoint(run_dir).name if last.is_symlink() else None
    if last.exists() and not last.is_symlink():  # a run directory of an older einformer: last/ was a folder
        last.rename(run_dir / f"{CHECKPOINT_PREFIX}legacy")
        previous = f"{CHECKPOINT_PREFIX}legacy"
    link = run_dir / ".last.tmp"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(target.name)
    os.replace(link, last)
    _fsync_dir(run_dir)
    if previous and previous != target.name and _is_our_checkpoint(run_dir / previous):
        shutil.rmtree(run_dir / previous, ignore_errors=True)


def published_step(run_dir: str | Path) -> int | None:
    """The step ``last`` points at (None for an older run's plain last/ folder, or no checkpoint)."""
    last = Path(run_dir) / LAST
    if not last.is_symlink():
        return None
    suffix = os.readlink(last)[len(CHECKPOINT_PREFIX) :]
    return int(suffix) if suffix.isdigit() else None


def clean_partial(run_dir: str | Path) -> list[str]:
    """Remove what a crashed write left, and only names einformer writes: ``checkpoint-N/`` folders
    that ``last`` does not point at and that hold only a checkpoint's files, and einformer's
    temporary files (``.NAME.XXXXXXXX.tmp``, ``.last.tmp``). Anything else stays."""
    run_dir, removed = Path(run_dir), []
    if not run_dir.is_dir():
        return removed
    current = last_checkpoint(run_dir)
    for path in run_dir.iterdir():
        if current is not None and path.name == current.name:
            continue
        if _is_our_checkpoint(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
        elif TEMPORARY_NAME.fullmatch(path.name) and (path.is_file() or path.is_symlink()):
            path.unlink()
            removed.append(path.name)
    if current is not None:
        for path in current.iterdir():
            if TEMPORARY_NAME.fullmatch(path.name) and path.is_file():
                path.unlink()
                removed.append(f"{current.name}/{path.name}")
    return removed


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(directory)


def pause(name: str, step: int) -> None:
    """A pause point for the crash tests: with EINFORMER_PAUSE_AT=NAME:STEP:SECONDS, at point NAME of
    step STEP, say so and sleep (the moment a test kills the process)."""
    spec = os.environ.get(PAUSE_VARIABLE, "").split(":")
    if len(spec) == 3 and spec[0] == name and spec[1] == str(step):
        print(f"einformer: paused at {name} of step {step}", file=sys.stderr, flush=True)
        time.sleep(float(spec[2]))


@contextlib.contextmanager
def writing(path: str | Path, what: str = "checkpoint"):
    """Turn a full disk, however the writer reports it, into one ``DiskFullError`` that names ``path``
    and the space left there; other errors pass unchanged. A Ctrl-C while the block writes takes
    effect when it ends (``_interrupt_after``)."""
    with _interrupt_after():
        try:
            yield
        except Exception as e:
            if not is_disk_full(e):
                raise
            raise _disk_full(e, path, what) from None


@contextlib.contextmanager
def _interrupt_after():
    """Hold a Ctrl-C (SIGINT) until the block ends, then raise it. A KeyboardInterrupt inside
    ``torch.save`` surfaced as its zip writer's "unexpected pos" error, which reads as a full disk: in
    30 interrupted saves of a 24 MB state, 8 ended as DiskFullError. Only in the main thread, and only
    over Python's own handler (a handler someone installed stays in charge)."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    caught = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if caught:
            raise KeyboardInterrupt


def _disk_full(e: Exception, path: str | Path, what: str) -> DiskFullError:
    """The ``DiskFullError`` for ``path``, naming the space left there and what the writer said."""
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    free = shutil.disk_usage(existing).free / 2**20
    return DiskFullError(
        f"no space left on the device while writing the {what} {path} ({free:.0f} MB free there; the writer "
        f"said: {str(e).splitlines()[0][:120]}). Free some space, then --resume: the last complete checkpoint "
        "is kept"
    )
