"""Issue #32, group 10: a ``--nproc-per-node`` run fails in one line. A killed worker is named by rank
and cause with one hint (not torchrun's 45 lines); a second run on the same directory shows the lock
message (not torchrun's tracebacks or gloo's "Connection reset by peer"); Ctrl-C to the launcher prints
the resume hint once, without a traceback, and exits 130. Gloo on 127.0.0.1, two workers."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import LM, text_file

pytestmark = pytest.mark.distributed


def _launch(*argv) -> subprocess.Popen:
    """``einformer ARGV`` in a session of its own, as a terminal starts it (Ctrl-C reaches the group)."""
    return subprocess.Popen([sys.executable, "-m", "einformer", *map(str, argv)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip


def _workers(run_dir: Path) -> dict[int, int]:
    """rank -> pid of the torchrun workers training into ``run_dir``."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            env = dict(v.split(b"=", 1) for v in (entry / "environ").read_bytes().split(b"\0") if b"=" in v)
        except OSError:
            continue
        if os.fsencode(run_dir) in cmdline and b"RANK" in env and b"TORCHELASTIC_RUN_ID" in env:
            found[int(env[b"RANK"])] = int(entry.name)
    return found


def _wait_for_checkpoint(run_dir: Path, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not (run_dir / "last").exists() or len(_workers(run_dir)) < 2:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.3)


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error:" in line or "interrupted" in line]


def test_distributed_failures_are_one_line(tmp_path):
    data, run_dir = text_file(tmp_path), tmp_path / "run"
    argv = ["train", *LM, "--data", data, "--run-dir", run_dir, "--steps", 100000, "--save-every", 2,
            "--nproc-per-node", 2]  # fmt: skip
    first = _launch(*argv)
    _wait_for_checkpoint(run_dir, first)

    # a second run on the same directory: the lock's message, from rank 0, and nothing of torchrun's
    second = subprocess.run([sys.executable, "-m", "einformer", *map(str, argv)], capture_output=True, text=True,
                            timeout=240)  # fmt: skip
    assert second.returncode == 2, second.stderr
    assert _errors(second.stderr) == [second.stderr.strip()], second.stderr  # its only line
    assert second.stderr.startswith("einformer train: error: rank 0: ") and "is in use by another einformer" in (
        second.stderr
    )  # before: torchrun's ChildFailedError traceback, once gloo's "Connection reset by peer"

    # Ctrl-C, as a terminal sends it to the whole group: the hint once, no traceback, exit 130
    os.killpg(first.pid, signal.SIGINT)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 130, stderr  # before: 1
    assert "Traceback" not in stderr and stderr.count("interrupted") == 1, stderr  # before: twice, then 30 lines
    assert "continue with: einformer train" in stderr and "--resume" in stderr

    # a killed worker: one line with its rank and cause, and one hint
    resumed = _launch(*argv, "--resume")
    time.sleep(1)
    _wait_for_checkpoint(run_dir, resumed)
    os.kill(_workers(run_dir)[1], signal.SIGKILL)
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 2, stderr
    assert "Traceback" not in stderr and "ChildFailedError" not in stderr, stderr  # before: 45 lines of them
    errors = _errors(stderr)
    assert len(errors) == 1 and errors[0].startswith("einformer train: error: rank 1 was killed by SIGKILL; "), stderr
    assert "--resume continues from the last checkpoint" in errors[0]
    assert not _workers(run_dir)
