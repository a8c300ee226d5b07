"""Running einformer as a user would, in a real subprocess, and reading what it left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

TEXT = "".join(f"line {i % 7}: the quick brown fox jumps over the lazy dog.\n" for i in range(300))
LM = ["--model", "gpt", "--preset", "tiny", "--block-size", "32", "--batch-size", "8", "--warmup", "2",
      "--eval-every", "1000", "--log-every", "1", "--no-progress"]  # fmt: skip


def einformer(*argv, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "einformer", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def start(*argv, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "einformer", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_for(process: subprocess.Popen, marker: str, timeout: float = 120) -> None:
    """Read the process's standard error until ``marker`` appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if marker in line:
            return
        if not line and process.poll() is not None:
            raise AssertionError(f"the process ended (rc {process.returncode}) before {marker!r}")
    raise AssertionError(f"no {marker!r} within {timeout} s")


def losses(run_dir: Path) -> list[tuple[int, float]]:
    lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines) if "loss" in r]


def text_file(directory: Path) -> Path:
    path = Path(directory) / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path
