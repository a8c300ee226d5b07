"""Distributed training: process-group setup, sharding, and the torchrun launch.

einformer scales out with torch's own tools: ``torchrun`` (torch.distributed.run) starts one
process per device and sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT;
``setup`` reads them (env:// init) or takes an explicit tcp:// address, picks nccl on CUDA and gloo
on CPU, binds each process to the device of its LOCAL_RANK, and sets a collective timeout so a
failing rank ends the job instead of leaving the others waiting forever.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import torch
import torch.distributed as dist

from ..errors import EinformerError


@dataclasses.dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank among world_size, and its device."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(
    *,
    backend: str = "auto",
    init_method: str | None = None,
    device: str | None = None,
    timeout_s: float = 300.0,
    rank: int | None = None,
    world_size: int | None = None,
) -> DistInfo:
    """Join the process group described by torchrun's environment (or ``init_method``).

    Args:
        backend: "gloo", "nccl", or "auto" (nccl when CUDA is available, else gloo).
        init_method: e.g. "tcp://10.0.0.1:29500"; default "env://" (torchrun's variables).
        device: "cpu" or "cuda"; default cuda when available. Each process takes cuda:LOCAL_RANK.
        timeout_s: collective timeout; a rank that dies makes the others fail after this long.
        rank, world_size: for a tcp:// init without torchrun's variables.

    Returns:
        A ``DistInfo``; with a world size of 1 and no ``init_method``, no process group is made.
    """
    if "TORCHELASTIC_RUN_ID" in os.environ:  # a torchrun worker: stop when torchrun stops
        die_with_parent(signal.SIGKILL)
    world = world_size if world_size is not None else int(os.environ.get("WORLD_SIZE", "1"))
    this_rank = rank if rank is not None else int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(this_rank)))
    use_cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for, but CUDA is not available on this machine")
    dev = torch.device(f"cuda:{local_rank % torch.cuda.device_count()}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world == 1 and init_method is None:
        return DistInfo(device=dev)
    if backend == "auto":
        backend = "nccl" if use_cuda else "gloo"
    if backend == "nccl" and not use_cuda:
        raise ValueError("backend nccl needs CUDA devices; use gloo on CPU")
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend,
            init_method=init_method or "env://",
            rank=this_rank,
            world_size=world,
            timeout=datetime.timedelta(seconds=timeout_s),
        )
    return DistInfo(this_rank, local_rank, world, dev, backend)


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum a tensor over ranks (a no-op on one process)."""
    if info.enabled:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """Rank 0's decision, for every rank (e.g. early stopping)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], device=info.device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a single-machine rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def without_option(argv: list[str], flag: str) -> list[str]:
    """argv without ``flag VALUE`` / ``flag=VALUE``."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == flag:
            skip = True
        elif not item.startswith(flag + "="):
            out.append(item)
    return out


FAILURE_DIR = "EINFORMER_FAILURE_DIR"  # set by the launcher: where each worker leaves its error, one file a rank
GLOG_LINE = re.compile(r"^[IWEF]\d{4} [\d:.]+ +\d+ \S*torch/distributed/elastic/")  # torchrun's own log lines


class WorkerFailed(EinformerError, RuntimeError):
    """A worker of a ``--nproc-per-node`` run failed: its rank and the first line of its cause."""


def relaunch_with_torchrun(nproc_per_node: int, argv: list[str]) -> int:
    """Run ``einformer ARGV`` (its --nproc-per-node left out) under torchrun with ``nproc_per_node``
    processes on this machine.

    A failure is one ``WorkerFailed`` line: the rank that failed first and the first line of its cause
    (its own error message, which each worker leaves in ``EINFORMER_FAILURE_DIR`` instead of printing
    it, or the signal that killed it), not torchrun's traceback and every rank's echo of it. Ctrl-C
    (SIGINT) stops torchrun and its workers and ends as a ``KeyboardInterrupt`` here, so the command
    prints its resume hint once. ``einformer --debug`` shows everything as it comes."""
    debug = "--debug" in argv
    argv = without_option(argv, "--nproc-per-node")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(nproc_per_node),
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(free_port()),
        "-m",
        "einformer",
        *argv,
    ]
    with tempfile.TemporaryDirectory(prefix="einformer-ranks-") as failures:
        env = {**os.environ, FAILURE_DIR: failures}
        env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own default, without its banner about it
        # the launcher's signals reach torchrun (which stops its workers); if the launcher is killed
        # outright, torchrun gets SIGTERM from the kernel (die_with_parent), and each worker SIGKILL
        child = subprocess.Popen(
            command,
            env=env,
            stderr=None if debug else subprocess.PIPE,
            text=True,
            errors="replace",
            preexec_fn=lambda: die_with_parent(signal.SIGTERM),
        )
        held: list[str] = []  # torchrun's own lines, read for the root cause, never shown
        relay = None if debug else threading.Thread(target=_relay, args=(child.stderr, held), daemon=True)
        if relay is not None:
            relay.start()
        interrupted = []

        def forward(sig, _frame):
            interrupted.append(sig)
            child.send_signal(sig)

        forwarded = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            code = child.wait()
        finally:
            for s, handler in forwarded.items():
                signal.signal(s, handler)
        if relay is not None:
            relay.join(timeout=10)
        if debug or code == 0:
            return code
        if signal.SIGINT in interrupted or _all_interrupted(failures):
            raise KeyboardInterrupt
        raise WorkerFailed(_failure(failures, held, code))


def _relay(stream, held: list[str]) -> None:
    """Copy the workers' standard error to ours as it comes; keep torchrun's own lines (its log lines,
    and everything from its traceback on) aside."""
    in_traceback = False
    for line in stream:
        in_traceback = in_traceback or line.startswith("Traceback (most recent call last)")
        if in_traceback or GLOG_LINE.match(line):
            held.append(line)
        else:
            sys.stderr.write(line)
            sys.stderr.flush()


def report_to_launcher(message: str, *, expected: bool = True, interrupted: bool = False) -> bool:
    """In a worker that einformer's launcher started: leave ``message`` (the error's one line) for the
    launcher, which prints one line for the whole job; False elsewhere (print it yourself)."""
    directory = os.environ.get(FAILURE_DIR)
    if not directory or "RANK" not in os.environ or not os.path.isdir(directory):
        return False
    record = {"rank": int(os.environ["RANK"]), "message": message, "expected": expected,
              "interrupted": interrupted, "time": time.time()}  # fmt: skip
    path = os.path.join(directory, f"rank{record['rank']}.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(record, f)
    os.replace(path + ".tmp", path)
    return True


def _reports(directory: str) -> list[dict]:
    reports = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                reports.append(json.load(f))
    return sorted(reports, key=lambda r: r["time"])


def _all_interrupted(directory: str) -> bool:
    reports = _reports(directory)
    return bool(reports) and all(r["interrupted"] for r in reports)


ROOT_CAUSE = re.compile(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.S)


def _failure(directory: str, held: list[str], code: int) -> str:
    """One line for a failed job: the first rank that failed for a reason of its own (an error einformer
    names, such as another run holding the directory), else torchrun's root cause (a rank killed by a
    signal), else the first rank's unexpected error; then one hint."""
    reports = [r for r in _reports(directory) if not r["interrupted"]]
    expected = sorted((r for r in reports if r["expected"]), key=lambda r: r["rank"] != 0)  # rank 0 holds the lock
    if expected:
        return f"rank {expected[0]['rank']}: {expected[0]['message']}"
    hint = (
        "the other ranks were stopped with it; --resume continues from the last checkpoint, and "
        "einformer --debug ... shows every rank's output and torchrun's"
    )
    cause = ROOT_CAUSE.search("".join(held))
    if cause is not None:
        rank, exitcode = int(cause.group(1)), int(cause.group(2))
        own = [r for r in reports if r["rank"] == rank]
        if own:
            return f"rank {rank} failed: {own[0]['message']}; {hint}"
        if exitcode < 0:
            return f"rank {rank} was killed by {signal.Signals(-exitcode).name}; {hint}"
        return f"rank {rank} exited with code {exitcode}; {hint}"
    if reports:
        return f"rank {reports[0]['rank']} failed: {reports[0]['message']}; {hint}"
    last = next((line.strip() for line in reversed(held) if line.strip()), "")
    return f"torchrun failed with exit code {code}{f' ({last[:200]})' if last else ''}; {hint}"


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send this process ``sig`` when its parent dies (prctl PR_SET_PDEATHSIG); a no-op
    elsewhere. Keeps torchrun's workers from training on, orphaned, after the launcher is killed."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, int(sig))  # 1 = PR_SET_PDEATHSIG
