"""Install truth (#31): the README and docs/install.md say what a plain ``pip install torch`` pulls,
and ``einformer env --check`` warns about a CUDA build of torch on a machine without a GPU."""

import argparse
import re
from pathlib import Path

import pytest
import torch

from einformer import diagnose as diagnose_module
from einformer.cli.env import cmd_env
from einformer.diagnose import diagnose, exit_code
from einformer.env import cuda_wheels

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"


def _dist_info(root: Path, name: str, version: str, sizes: list[int]) -> None:
    """A minimal installed package as pip leaves it: METADATA and a RECORD with file sizes."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    rows = [f"{name.replace('-', '_')}/lib{i}.so,sha256=x,{size}" for i, size in enumerate(sizes)]
    (info / "RECORD").write_text("\n".join([*rows, f"{info.name}/RECORD,,"]) + "\n")


@pytest.fixture
def cuda_build_without_gpu(monkeypatch, tmp_path):
    """This machine as a CUDA 13.0 build of torch sees it where no GPU and no driver are."""
    _dist_info(tmp_path, "nvidia-cublas", "13.1.1.3", [400_000_000, 23_000_000])
    _dist_info(tmp_path, "nvidia-cudnn-cu13", "9.20.0.48", [900_000_000])
    _dist_info(tmp_path, "triton", "3.7.1", [190_000_000])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch, "__version__", "2.13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(diagnose_module, "nvidia_driver", lambda: None)
    monkeypatch.setattr(diagnose_module, "matmul_rates", lambda: {"fp32": 100.0, "bf16": 100.0})


def test_env_check_warns_about_a_cuda_build_without_a_gpu(cuda_build_without_gpu, capsys):
    args = argparse.Namespace(json=False, check=True, device="cpu")
    assert cmd_env(args) == 0  # a warning: torch still runs, on the CPU
    out = capsys.readouterr().out
    assert "[warning] torch 2.13.0 is a CUDA 13.0 build, but this machine has no GPU" in out
    assert "(1.5 GB in 3 packages)" in out  # 400 + 23 + 900 + 190 MB, read from the packages' RECORDs
    assert "pip uninstall -y torch nvidia-cublas nvidia-cudnn-cu13 triton && " in out
    assert f"pip install torch==2.13.0 {CPU_INDEX}" in out


def test_cuda_wheels_sums_the_sizes_pip_recorded(tmp_path):
    import importlib.metadata

    _dist_info(tmp_path, "nvidia-nccl-cu13", "2.29.7", [200, 30])
    _dist_info(tmp_path, "numpy", "2.0.0", [10_000])  # not a CUDA companion: left out
    found = cuda_wheels(importlib.metadata.distributions(path=[str(tmp_path)]))
    assert found == {"packages": ["nvidia-nccl-cu13"], "bytes": 230}


def test_no_cuda_warning_for_a_cpu_build_or_a_real_gpu():
    base = {"torch": "2.13.0+cpu", "torch_cuda": None, "cuda_available": False, "driver": None, "cpu": {}}
    assert "cuda_build_without_gpu" not in [f.code for f in diagnose(base)]
    gpu = {**base, "torch": "2.13.0+cu130", "torch_cuda": "13.0", "cuda_available": True, "torch_gpu_count": 1,
           "driver": {"version": "580", "max_cuda": "13.0", "gpus": ["NVIDIA H100"]}}  # fmt: skip
    found = diagnose(gpu)
    assert "cuda_build_without_gpu" not in [f.code for f in found] and exit_code(found) == 0


def _quick_start_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text[text.index("## Quick start") : text.index("<!-- quick-start -->")]


@pytest.mark.parametrize("where", ["README.md", "docs/install.md"])
def test_docs_tell_the_truth_about_the_torch_wheels(where):
    text = _quick_start_section() if where == "README.md" else (ROOT / where).read_text(encoding="utf-8")
    flat = " ".join(text.split())
    assert "where no CUDA is installed" not in flat  # the old claim: PyPI's Linux wheel is the CUDA build anyway
    assert f"pip install torch==2.13.0 {CPU_INDEX}" in flat  # the command that gets the CPU build anywhere
    assert re.search(r"2\.7 GB", flat) and "nvidia" in flat  # what the plain command pulls, measured
