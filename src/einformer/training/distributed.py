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
import os
import signal
import socket
import subprocess
import sys

import torch
import torch.distributed as dist


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


def relaunch_with_torchrun(nproc_per_node: int, argv: list[str]) -> int:
    """Run ``einformer ARGV`` (its --nproc-per-node left out) under torchrun with ``nproc_per_node``
    processes on this machine."""
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
    # the launcher's signals reach torchrun (which stops its workers); if the launcher is killed
    # outright, torchrun gets SIGTERM from the kernel (die_with_parent), and each worker SIGKILL
    child = subprocess.Popen(command, preexec_fn=lambda: die_with_parent(signal.SIGTERM))
    forwarded = {s: signal.signal(s, lambda sig, _: child.send_signal(sig)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    finally:
        for s, handler in forwarded.items():
            signal.signal(s, handler)


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send this process ``sig`` when its parent dies (prctl PR_SET_PDEATHSIG); a no-op
    elsewhere. Keeps torchrun's workers from training on, orphaned, after the launcher is killed."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, int(sig))  # 1 = PR_SET_PDEATHSIG
