"""The einformer command: --version, --help, env (text and JSON), no run-time test dependencies."""

import json
import subprocess
import sys

import einformer
from einformer.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert capsys.readouterr().out.strip() == f"einformer {einformer.__version__}"


def test_help_lists_subcommands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "env" in out and "usage: einformer" in out


def test_env_text_and_json(capsys):
    import torch

    assert main(["env"]) == 0
    text = capsys.readouterr().out
    assert f"torch            {torch.__version__}" in text and "NCCL" in text and "cuDNN" in text
    assert main(["env", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["torch"] == torch.__version__
    assert report["cuda_available"] == torch.cuda.is_available()
    assert report["threads"] == torch.get_num_threads()
    assert set(report["packages"]) >= {"einops", "safetensors", "tokenizers"}
    assert report["distributed_backends"]["gloo"] is True
    if not torch.cuda.is_available():
        assert report["gpus"] == [] and report["nccl"] is None


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "einformer", "env", "--json"], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout)["einformer"] == einformer.__version__


def test_package_never_imports_test_or_bench_dependencies():
    code = (
        "import sys, einformer, einformer.nn, einformer.cli, einformer.env\n"
        "bad = [m for m in ('transformers', 'pytest', 'hypothesis', 'sentence_transformers') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
