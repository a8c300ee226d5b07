"""``einformer env --check``: the facts of this machine that decide whether torch can use its GPU
and how fast the CPU is, and the findings they lead to, each with its fix.

Two halves, so the diagnosis is tested on recorded facts (plain data) rather than on this machine:
* ``collect_facts()`` reads torch's own view, the system's CUDA toolkit (``nvcc --version``,
  ``/usr/local/cuda/version.json`` or ``version.txt``), the driver (``nvidia-smi``),
  ``CUDA_VISIBLE_DEVICES``, the CPU's model and features, and measures fp32 and bf16 matmul rates
  in about 0.2 s each;
* ``diagnose(facts, device=...)`` is a pure function from those facts to ``Finding``s.

The usual answers to "why is torch.cuda.is_available() False?" are each a finding: a CPU build of
torch, a driver older than the CUDA the build needs, and GPUs hidden by CUDA_VISIBLE_DEVICES.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

ERROR, WARNING, INFO = "error", "warning", "info"  # an error stops the user's next step: exit code 1
# CUDA versions torch publishes wheels for (the pip index suffix is cuXYZ), newest last
TORCH_CUDA_WHEELS = ("11.8", "12.1", "12.4", "12.6", "12.8", "12.9", "13.0")
CPU_FEATURES = {  # /proc/cpuinfo flag -> the name users know
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx512_bf16": "AVX512-BF16",
    "amx_bf16": "AMX-BF16",
    "amx_tile": "AMX",
    "avx512_vnni": "AVX512-VNNI",
    "avx_vnni": "AVX-VNNI",
}


@dataclasses.dataclass
class Finding:
    severity: str  # error, warning or info
    code: str  # a stable name for scripts, e.g. "cpu_build_with_gpu"
    message: str
    fix: str | None = None  # the command or setting that addresses it

    def to_text(self) -> str:
        return f"[{self.severity}] {self.message}" + (f"\n    fix: {self.fix}" if self.fix else "")


# ---------------------------------------------------------------- the facts
def _run(command: list[str]) -> str | None:
    """The output of ``command``, or None when it is missing or fails."""
    if shutil.which(command[0]) is None:
        return None
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None


def cuda_toolkit() -> dict | None:
    """The system CUDA toolkit: nvcc's release, else /usr/local/cuda's version file; None if absent."""
    out = _run(["nvcc", "--version"])
    match = re.search(r"release (\d+\.\d+)", out or "")
    if match:
        return {"version": match.group(1), "source": "nvcc --version"}
    root = Path("/usr/local/cuda")
    if (root / "version.json").is_file():
        try:
            version = json.loads((root / "version.json").read_text())["cuda"]["version"]
            return {"version": ".".join(version.split(".")[:2]), "source": str(root / "version.json")}
        except (ValueError, KeyError, TypeError):
            pass
    if (root / "version.txt").is_file():
        match = re.search(r"(\d+\.\d+)", (root / "version.txt").read_text())
        if match:
            return {"version": match.group(1), "source": str(root / "version.txt")}
    return None


def nvidia_driver() -> dict | None:
    """The driver's version, the highest CUDA it supports, and the GPUs it sees (nvidia-smi)."""
    header = _run(["nvidia-smi"])
    if header is None:
        return None
    driver = re.search(r"Driver Version:\s*([\d.]+)", header)
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", header)
    names = _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]) or ""
    return {
        "version": driver.group(1) if driver else None,
        "max_cuda": cuda.group(1) if cuda else None,
        "gpus": [n.strip() for n in names.splitlines() if n.strip()],
    }


def cpu_info() -> dict:
    """The CPU's model name, core count and the speed-deciding features, from /proc/cpuinfo and torch."""
    import torch

    model, flags = None, set()
    path = Path("/proc/cpuinfo")
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("model name") and model is None:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: None)()
    return {
        "model": model,
        "cores": os.cpu_count(),
        "features": [name for flag, name in CPU_FEATURES.items() if flag in flags],
        "torch_capability": capability,
    }


def matmul_rates(seconds: float = 0.2, n: int = 512) -> dict:
    """fp32 and bf16 GFLOP/s of an n x n x n CPU matmul, each measured for about ``seconds``."""
    import torch

    rates = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b  # warm-up
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            a @ b
            count += 1
        rates[name] = round(2 * n**3 * count / (time.perf_counter() - start) / 1e9, 1)
    return rates


def collect_facts(*, probe: bool = True) -> dict:
    """Everything ``diagnose`` reads, as plain JSON-ready data; ``probe=False`` skips the matmul timing."""
    import torch
    import torch.distributed as dist

    from .env import cuda_wheels

    cuda_build = torch.version.cuda
    return {
        "torch": torch.__version__,
        "torch_cuda": cuda_build,  # None: a CPU build
        "cuda_available": torch.cuda.is_available(),
        "torch_gpu_count": torch.cuda.device_count() if cuda_build else 0,
        "nccl_available": bool(dist.is_available() and dist.is_nccl_available()),
        "toolkit": cuda_toolkit(),
        "driver": nvidia_driver(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "under_torchrun": "LOCAL_RANK" in os.environ,
        "threads": torch.get_num_threads(),
        "cpu": cpu_info(),
        "matmul_gflops": matmul_rates() if probe else None,
        "cuda_wheels": cuda_wheels() if cuda_build else None,  # the nvidia-* packages a CUDA build pulled
    }


# ---------------------------------------------------------------- the diagnosis
def _version(text: str | None) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text or "")[:2]) or (0,)


def wheel_for_driver(max_cuda: str | None) -> str | None:
    """The newest CUDA that torch publishes wheels for and the driver supports."""
    fitting = [w for w in TORCH_CUDA_WHEELS if _version(w) <= _version(max_cuda)]
    return fitting[-1] if fitting else None


def pip_command(torch_version: str, cuda: str) -> str:
    base = torch_version.split("+")[0]
    return f"pip install torch=={base} --index-url https://download.pytorch.org/whl/cu{cuda.replace('.', '')}"


def diagnose(facts: dict, *, device: str = "cpu") -> list[Finding]:
    """Findings for the recorded ``facts``; ``device`` is what the user means to train on."""
    out: list[Finding] = []
    driver, build = facts.get("driver"), facts.get("torch_cuda")
    driver_gpus = (driver or {}).get("gpus") or []
    if build is None and driver_gpus:
        wheel = wheel_for_driver(driver.get("max_cuda"))
        out.append(Finding(
            ERROR, "cpu_build_with_gpu",
            f"torch {facts['torch']} is a CPU-only build, but the NVIDIA driver {driver.get('version')} sees "
            f"{len(driver_gpus)} GPU(s) ({', '.join(driver_gpus)}): torch.cuda.is_available() is False",
            pip_command(facts["torch"], wheel) if wheel else "upgrade the NVIDIA driver, then install a CUDA torch",
        ))  # fmt: skip
    if build is not None and driver and driver.get("max_cuda") and _version(driver["max_cuda"]) < _version(build):
        wheel = wheel_for_driver(driver["max_cuda"])
        fix = f"upgrade the NVIDIA driver to one that supports CUDA {build}"
        if wheel:
            fix += f", or install torch built for CUDA {wheel}: {pip_command(facts['torch'], wheel)}"
        out.append(Finding(
            ERROR, "driver_too_old",
            f"torch {facts['torch']} needs CUDA {build}, but driver {driver.get('version')} supports CUDA "
            f"{driver['max_cuda']} at most",
            fix,
        ))  # fmt: skip
    visible = facts.get("cuda_visible_devices")
    if build is not None and driver_gpus and facts.get("torch_gpu_count", 0) == 0 and visible is not None:
        out.append(Finding(
            ERROR, "gpus_hidden",
            f"the driver sees {len(driver_gpus)} GPU(s) but torch sees none: CUDA_VISIBLE_DEVICES={visible!r} "
            "hides them",
            "unset CUDA_VISIBLE_DEVICES  (or: export CUDA_VISIBLE_DEVICES="
            + ",".join(str(i) for i in range(len(driver_gpus))) + ")",
        ))  # fmt: skip
    if build is not None and facts.get("torch_gpu_count", 0) >= 2 and not facts.get("nccl_available"):
        out.append(Finding(
            WARNING, "nccl_missing",
            f"{facts['torch_gpu_count']} GPUs but this torch has no NCCL: multi-GPU training would fall back "
            "to gloo, much slower",
            "install torch's CUDA wheel for Linux (it bundles NCCL), or train with --backend gloo knowingly",
        ))  # fmt: skip
    toolkit = facts.get("toolkit")
    if driver_gpus and toolkit is None:
        out.append(Finding(
            INFO, "no_toolkit",
            "no system CUDA toolkit (nvcc, /usr/local/cuda): torch's CUDA wheels bring their own runtime, so "
            "training needs none; only compiling CUDA extensions does",
            "sudo apt-get install nvidia-cuda-toolkit  (only to build extensions)",
        ))  # fmt: skip
    if not driver_gpus and build is None:
        tk = f"; a CUDA toolkit {toolkit['version']} is installed, but a toolkit is not a GPU" if toolkit else ""
        out.append(Finding(
            INFO, "no_gpu",
            f"no GPU: nvidia-smi {'sees none' if driver else 'is not installed (no NVIDIA driver)'} and torch is a "
            f"CPU build{tk}. einformer trains and generates on the CPU",
        ))  # fmt: skip
    if build is not None and not driver_gpus and not facts.get("cuda_available"):
        out.append(cuda_build_without_gpu(facts))
    if device.startswith("cuda") and not facts.get("cuda_available"):
        out.append(Finding(
            ERROR, "device_unavailable",
            f"--device {device} was asked for, but torch.cuda.is_available() is False on this machine",
            "fix the findings above, or use --device cpu",
        ))  # fmt: skip
    out += _cpu_findings(facts)
    return out


def cuda_build_without_gpu(facts: dict) -> Finding:
    """A CUDA build of torch where no GPU is: it runs on the CPU, carrying gigabytes it never uses."""
    wheels = facts.get("cuda_wheels") or {}
    size = f"{wheels['bytes'] / 1e9:.1f} GB in {len(wheels['packages'])} packages" if wheels.get("bytes") else ""
    base = facts["torch"].split("+")[0]
    cpu = f"pip install torch=={base} --index-url https://download.pytorch.org/whl/cpu"
    packages = " ".join(wheels.get("packages") or [])
    fix = f"pip uninstall -y torch {packages} && {cpu}" if packages else f"pip uninstall -y torch && {cpu}"
    return Finding(
        WARNING, "cuda_build_without_gpu",
        f"torch {facts['torch']} is a CUDA {facts['torch_cuda']} build, but this machine has no GPU "
        f"(torch.cuda.is_available() is False): it runs on the CPU and its CUDA libraries"
        + (f" ({size})" if size else "") + " are never used. The CPU build is about 0.2 GB to download",
        fix,
    )  # fmt: skip


def _cpu_findings(facts: dict) -> list[Finding]:
    out = []
    rates = facts.get("matmul_gflops")
    if rates and rates.get("fp32"):
        ratio = rates["bf16"] / rates["fp32"]
        features = ", ".join(facts.get("cpu", {}).get("features") or []) or "none reported"
        measured = f"bf16 {rates['bf16']} vs fp32 {rates['fp32']} GFLOP/s ({ratio:.2f}x; CPU features: {features})"
        if ratio < 0.8:
            out.append(Finding(
                WARNING, "bf16_slow_cpu",
                f"bf16 is slow on this CPU: {measured}. --precision bf16 would slow CPU training down",
                "keep --precision fp32 on this CPU",
            ))  # fmt: skip
        elif ratio > 1.3:
            out.append(Finding(
                INFO, "bf16_fast_cpu",
                f"bf16 is fast on this CPU: {measured}. --precision bf16 is worth trying for CPU training",
                "einformer train ... --precision bf16",
            ))  # fmt: skip
        else:
            out.append(Finding(INFO, "bf16_even_cpu", f"bf16 runs about as fast as fp32 here: {measured}"))
    cores = (facts.get("cpu") or {}).get("cores") or 1
    if facts.get("omp_num_threads") == "1" and not facts.get("under_torchrun") and cores > 1:
        out.append(Finding(
            WARNING, "threads_starved",
            f"OMP_NUM_THREADS=1 outside torchrun: torch uses 1 of {cores} cores",
            f"unset OMP_NUM_THREADS  (or: export OMP_NUM_THREADS={cores})",
        ))  # fmt: skip
    return out


def exit_code(findings: list[Finding]) -> int:
    """1 when a finding would stop the user's next step, else 0."""
    return 1 if any(f.severity == ERROR for f in findings) else 0
