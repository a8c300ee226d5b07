"""``einformer env --check``: the diagnosis fed recorded facts (plain data, no mocks of torch), one
machine per finding; then the real report of this machine."""

import json
import subprocess
import sys

import pytest

from einformer.diagnose import diagnose, exit_code, wheel_for_driver

CPU = {"model": "Intel(R) Xeon(R) Platinum 8480+", "cores": 8, "features": ["AVX2", "AVX-512", "AMX"],
       "torch_capability": "AVX512"}  # fmt: skip
BASE = {
    "torch": "2.13.0+cpu",
    "torch_cuda": None,
    "cuda_available": False,
    "torch_gpu_count": 0,
    "nccl_available": False,
    "toolkit": None,
    "driver": None,
    "cuda_visible_devices": None,
    "omp_num_threads": None,
    "under_torchrun": False,
    "threads": 8,
    "cpu": CPU,
    "matmul_gflops": {"fp32": 100.0, "bf16": 95.0},
}
A100S = {"version": "535.104.05", "max_cuda": "12.2", "gpus": ["NVIDIA A100-SXM4-80GB"] * 2}


def facts(**changes):
    return {**BASE, **changes}


def codes(findings):
    return [f.code for f in findings]


def by_code(findings, code):
    return next(f for f in findings if f.code == code)


def test_cpu_build_on_a_gpu_machine_gives_the_pip_command_for_the_driver():
    found = diagnose(facts(driver=A100S, toolkit={"version": "12.2", "source": "nvcc --version"}))
    f = by_code(found, "cpu_build_with_gpu")
    assert f.severity == "error" and "CPU-only build" in f.message and "2 GPU(s)" in f.message
    # the driver supports CUDA 12.2 at most: the newest wheel it can run is cu121
    assert f.fix == "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu121"
    assert exit_code(found) == 1


def test_driver_older_than_the_build_needs():
    gpu_build = dict(torch="2.13.0+cu128", torch_cuda="12.8", toolkit={"version": "12.8", "source": "nvcc"})
    found = diagnose(facts(**gpu_build, driver={**A100S, "gpus": A100S["gpus"][:1]}, torch_gpu_count=0))
    f = by_code(found, "driver_too_old")
    assert "needs CUDA 12.8" in f.message and "supports CUDA 12.2 at most" in f.message
    assert "upgrade the NVIDIA driver to one that supports CUDA 12.8" in f.fix
    assert f.fix.endswith("pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu121")
    assert exit_code(found) == 1


def test_gpus_hidden_by_cuda_visible_devices():
    found = diagnose(facts(torch="2.13.0+cu121", torch_cuda="12.1", driver=A100S, cuda_visible_devices="",
                           toolkit={"version": "12.1", "source": "nvcc"}))  # fmt: skip
    f = by_code(found, "gpus_hidden")
    assert "CUDA_VISIBLE_DEVICES=''" in f.message and f.fix.startswith("unset CUDA_VISIBLE_DEVICES")
    assert "export CUDA_VISIBLE_DEVICES=0,1" in f.fix
    assert exit_code(found) == 1


def test_nccl_missing_with_several_gpus():
    found = diagnose(facts(torch="2.13.0+cu121", torch_cuda="12.1", driver=A100S, torch_gpu_count=2,
                           cuda_available=True, toolkit={"version": "12.1", "source": "nvcc"}))  # fmt: skip
    f = by_code(found, "nccl_missing")
    assert f.severity == "warning" and "fall back to gloo" in f.message
    assert exit_code(found) == 0  # training still runs


def test_missing_toolkit_is_information_not_an_error():
    found = diagnose(facts(torch="2.13.0+cu121", torch_cuda="12.1", driver=A100S, torch_gpu_count=2,
                           cuda_available=True, nccl_available=True))  # fmt: skip
    assert codes(found) == ["no_toolkit", "bf16_even_cpu"]
    assert "bring their own runtime" in found[0].message and "nvidia-cuda-toolkit" in found[0].fix
    assert exit_code(found) == 0


@pytest.mark.parametrize(
    "rates, code, text, fix",
    [
        ({"fp32": 150.0, "bf16": 40.0}, "bf16_slow_cpu", "--precision bf16 would slow CPU training down",
         "keep --precision fp32 on this CPU"),
        ({"fp32": 90.0, "bf16": 400.0}, "bf16_fast_cpu", "--precision bf16 is worth trying",
         "einformer train ... --precision bf16"),
    ],
)  # fmt: skip
def test_bf16_slow_or_fast_on_the_cpu(rates, code, text, fix):
    f = by_code(diagnose(facts(matmul_gflops=rates)), code)
    assert text in f.message and f.fix == fix and f"bf16 {rates['bf16']} vs fp32 {rates['fp32']}" in f.message


def test_threads_starved_outside_torchrun_only():
    f = by_code(diagnose(facts(omp_num_threads="1")), "threads_starved")
    assert "1 of 8 cores" in f.message and f.fix == "unset OMP_NUM_THREADS  (or: export OMP_NUM_THREADS=8)"
    assert "threads_starved" not in codes(diagnose(facts(omp_num_threads="1", under_torchrun=True)))


def test_cuda_device_on_a_cpu_build_stops_the_next_step():
    found = diagnose(facts(), device="cuda")
    assert "no_gpu" in codes(found) and by_code(found, "device_unavailable").severity == "error"
    assert exit_code(found) == 1 and exit_code(diagnose(facts())) == 0


def test_wheel_choice():
    assert wheel_for_driver("13.1") == "13.0" and wheel_for_driver("12.4") == "12.4"
    assert wheel_for_driver("11.4") is None and wheel_for_driver(None) is None


def test_this_machine_reports_its_cpu_and_matmul_rates_honestly():
    out = subprocess.run(
        [sys.executable, "-m", "einformer", "env", "--check", "--json"], capture_output=True, text=True, timeout=120
    )
    report = json.loads(out.stdout)
    system = report["system"]
    assert system["matmul_gflops"]["fp32"] > 0 and system["matmul_gflops"]["bf16"] > 0
    assert isinstance(system["cpu"]["features"], list) and system["cpu"]["cores"] >= 1
    import torch

    if not torch.cuda.is_available():
        assert "no_gpu" in [f["code"] for f in report["findings"]] or system["driver"] is not None
    assert out.returncode == (1 if any(f["severity"] == "error" for f in report["findings"]) else 0)
