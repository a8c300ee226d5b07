"""What this machine offers einformer: versions, CUDA, cuDNN, NCCL, GPUs, threads, backends."""

from __future__ import annotations

import importlib.metadata
import platform

import torch
import torch.distributed as dist

from .version import __version__


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


# what a CUDA build of torch pulls from PyPI beside itself: dead weight on a machine without a GPU
CUDA_WHEEL_PREFIXES = ("nvidia-", "cuda-", "triton")


def cuda_wheels(distributions=None) -> dict:
    """The installed CUDA companion packages of torch and their size on disk.

    Returns ``{"packages": [names], "bytes": total}``, sizes read from each package's RECORD
    (``importlib.metadata``), so nothing is walked beyond what pip wrote down.
    """
    names, total = [], 0
    for package in importlib.metadata.distributions() if distributions is None else distributions:
        name = (package.metadata["Name"] or "").lower()
        if not name.startswith(CUDA_WHEEL_PREFIXES) or name in names:
            continue
        names.append(name)
        total += sum(f.size or 0 for f in package.files or [])
    return {"packages": sorted(names), "bytes": total}


def _nccl_version() -> str | None:
    if not (torch.cuda.is_available() and dist.is_available() and dist.is_nccl_available()):
        return None
    version = torch.cuda.nccl.version()
    return ".".join(map(str, version)) if isinstance(version, tuple) else str(version)


def collect_env() -> dict:
    """A JSON-ready report of the software and hardware einformer runs on."""
    cuda = torch.cuda.is_available()
    gpus = []
    for i in range(torch.cuda.device_count() if cuda else 0):
        props = torch.cuda.get_device_properties(i)
        gpus.append(
            {
                "index": i,
                "name": props.name,
                "memory_gib": round(props.total_memory / 2**30, 2),
                "capability": f"{props.major}.{props.minor}",
            }
        )
    backends = {}
    if dist.is_available():
        backends = {"gloo": dist.is_gloo_available(), "nccl": dist.is_nccl_available(), "mpi": dist.is_mpi_available()}
    return {
        "einformer": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_build": f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU",
        "cuda_available": cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "nccl": _nccl_version(),
        "distributed_backends": backends,
        "gpus": gpus,
        "bf16_supported": bool(cuda and torch.cuda.is_bf16_supported()),
        "threads": torch.get_num_threads(),
        "packages": {p: _version(p) for p in ("einops", "safetensors", "tokenizers", "tqdm", "matplotlib")},
    }


def format_env(report: dict) -> str:
    """Human-readable lines for ``einformer env``."""
    backends = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in report["distributed_backends"].items())
    lines = [
        f"einformer        {report['einformer']}",
        f"python           {report['python']} ({report['platform']})",
        f"torch            {report['torch']} ({report['torch_build']} build)",
        f"CUDA available   {'yes' if report['cuda_available'] else 'no'}",
        f"cuDNN            {report['cudnn'] or 'not available'}",
        f"NCCL             {report['nccl'] or 'not available'}",
        f"distributed      {backends or 'torch.distributed not built'}",
        f"threads          {report['threads']}",
    ]
    if report["gpus"]:
        for g in report["gpus"]:
            lines.append(f"GPU {g['index']}            {g['name']}, {g['memory_gib']} GiB, sm {g['capability']}")
    else:
        lines.append("GPUs             none")
    for name, version in report["packages"].items():
        lines.append(f"{name:<16} {version or 'not installed'}")
    return "\n".join(lines)


def format_facts(facts: dict) -> str:
    """Human-readable lines for the system facts of ``einformer.diagnose.collect_facts``."""
    toolkit, driver, cpu, rates = facts["toolkit"], facts["driver"], facts["cpu"], facts["matmul_gflops"]
    visible = facts["cuda_visible_devices"]
    lines = [
        "CUDA toolkit     "
        + (f"{toolkit['version']} ({toolkit['source']})" if toolkit else "none (no nvcc, no /usr/local/cuda)"),
        "NVIDIA driver    "
        + (
            f"{driver['version']}, supports CUDA {driver['max_cuda']}, {len(driver['gpus'])} GPU(s)"
            if driver
            else "none (nvidia-smi not found)"
        ),
        f"CUDA_VISIBLE_DEVICES {'(unset)' if visible is None else visible}",
        f"CPU              {cpu['model'] or 'unknown'}, {cpu['cores']} cores, torch kernels {cpu['torch_capability']}",
        f"CPU features     {', '.join(cpu['features']) or 'none of AVX2 / AVX-512 / AVX512-BF16 / AMX / VNNI'}",
    ]
    if rates:
        lines.append(f"matmul (512^3)   fp32 {rates['fp32']} GFLOP/s, bf16 {rates['bf16']} GFLOP/s")
    return "\n".join(lines)
