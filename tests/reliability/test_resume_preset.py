"""Issue #32, group 5: ``--preset`` is one of the fields ``--resume`` checks, for the sequence-to-sequence
and BERT pre-training recipes too (it was checked for ``--model gpt`` and ``transformer-xl`` only)."""

import json

import pytest

from einformer.cli import main

from .helpers import losses

COMMON = ["--batch-size", "8", "--warmup", "1", "--eval-every", "1000", "--no-progress"]


def _seq2seq(run_dir, data, *extra):
    return ["train", "--data", str(data.with_suffix(".tsv")), "--tokenizer", "char", "--run-dir", str(run_dir),
            *COMMON, *extra]  # fmt: skip


def _bert(run_dir, data, *extra):
    return ["train", "--model", "bert", "--data", str(data), "--run-dir", str(run_dir), "--block-size", "32",
            "--vocab-size", "120", *COMMON, *extra]  # fmt: skip


@pytest.fixture(scope="module")
def sentences(tmp_path_factory):
    path = tmp_path_factory.mktemp("preset") / "sentences.txt"
    path.write_text("".join(f"the old teacher sees the ball number {i} today .\n" for i in range(120)))
    path.with_suffix(".tsv").write_text("".join(f"number {i}\tnombre {i}\n" for i in range(60)))
    return path


@pytest.mark.parametrize("job", ["seq2seq", "bert"])
def test_resume_refuses_another_preset_and_continues_without_one(tmp_path, sentences, capsys, job):
    """Before: ``--preset small`` on a resumed tiny run was ignored (exit 0, the tiny model trained on)."""
    run_dir = tmp_path / "run"
    argv = _seq2seq(run_dir, sentences) if job == "seq2seq" else _bert(run_dir, sentences)
    assert main([*argv, "--preset", "tiny", "--steps", "1"]) == 0
    assert json.loads((run_dir / "run.json").read_text())["preset"] == "tiny"
    capsys.readouterr()
    assert main([*argv, "--preset", "small", "--steps", "2", "--resume"]) == 2
    error = capsys.readouterr().err
    assert "preset: 'tiny' -> 'small'" in error and error.count("\n") == 1, error
    assert main([*argv, "--steps", "2", "--resume"]) == 0  # no --preset: the run's own
    assert [step for step, _ in losses(run_dir)] == [1, 2]


def test_a_fresh_run_without_preset_records_the_default(tmp_path, sentences, capsys):
    """The default is recorded as "small", so a later ``--preset tiny`` on resume is refused too."""
    run_dir = tmp_path / "run"
    argv = _bert(run_dir, sentences, "--layers", "1", "--d-model", "32", "--heads", "2", "--d-ff", "32")
    assert main([*argv, "--steps", "1"]) == 0
    assert json.loads((run_dir / "run.json").read_text())["preset"] == "small"
    capsys.readouterr()
    assert main([*argv, "--preset", "tiny", "--steps", "2", "--resume"]) == 2
    assert "preset: 'small' -> 'tiny'" in capsys.readouterr().err
