"""One process per run directory: rank 0 holds an flock on ``.lock`` for the whole job
(``exclusive``); the OS drops it when the process dies, so a killed run never leaves the directory
locked, and a second process on the same directory is refused before it writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
from collections.abc import Callable
from pathlib import Path

from ..errors import EinformerError
from .distributed import DistInfo
from .run_dir import LOCK, check_utf8_names
from .run_info import RUN_INFO


class RunInUse(EinformerError, RuntimeError):
    """Another process holds the run directory."""


class RunLock:
    """An exclusive flock on ``run_dir/.lock`` while held (the OS drops it when the process dies,
    so a killed run never leaves the directory locked)."""

    def __init__(self, run_dir: str | Path) -> None:
        run_dir = Path(run_dir)
        check_utf8_names(run_dir)
        if run_dir.is_symlink() and not run_dir.exists():
            raise ValueError(f"--run-dir {run_dir} is a symbolic link to {os.readlink(run_dir)}, which does not exist")
        if run_dir.exists() and not run_dir.is_dir():
            raise ValueError(f"--run-dir {run_dir} is a file; give a directory")
        self.run_dir, self.created = run_dir, not run_dir.exists()
        run_dir.mkdir(parents=True, exist_ok=True)
        self.created_lock = not (run_dir / LOCK).exists()
        self.fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self.fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            raise RunInUse(
                f"{run_dir} is in use by another einformer process (pid {holder}); wait for it to finish, "
                "or train into another --run-dir"
            ) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, str(os.getpid()).encode())

    def release(self) -> None:
        """Unlock; a lock file this lock created in a directory that did not become a run (a job
        refused before it started), and the directory too when the lock created it and nothing else
        is there, are removed again, so a refused run leaves nothing behind."""
        if self.fd is None:
            return
        if self.created_lock and not (self.run_dir / RUN_INFO).exists():
            with contextlib.suppress(OSError):  # still locked: no other process is inside
                os.unlink(self.run_dir / LOCK)
                if self.created:
                    self.run_dir.rmdir()  # fails, as it should, when anything else is there
        os.close(self.fd)  # closing the descriptor releases the flock
        self.fd = None


def exclusive(job: Callable) -> Callable:
    """Decorate a recipe ``job(run_dir, ..., dist_info=...)``: rank 0 holds the run directory's lock
    for the whole job, so a second process on the same directory is refused before it writes."""

    @functools.wraps(job)
    def locked(run_dir, *args, **kwargs):
        dist_info = kwargs.get("dist_info") or DistInfo()
        if not dist_info.is_main:
            return job(run_dir, *args, **kwargs)
        lock = RunLock(run_dir)
        try:
            return job(run_dir, *args, **kwargs)
        finally:
            lock.release()

    return locked
