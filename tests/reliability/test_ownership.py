"""A run never touches what it does not own (issue #32, group 1): a fresh run goes only into a new,
empty or inputs-only directory; cleanup removes only einformer's names; ``last`` never leads out of
the run; export never overwrites a run or, unasked, anything else."""

import hashlib
import json
import os
import shutil

import pytest

from einformer.cli import main
from einformer.training.run_checkpoints import clean_partial
from einformer.training.run_info import read_info

from .helpers import LM, losses, text_file


def _train(capsys, run_dir, data, *extra):
    """``einformer train`` in this process: (exit status, standard error)."""
    code = main(["train", *LM, "--data", str(data), "--run-dir", str(run_dir), "--steps", "2", *map(str, extra)])
    return code, capsys.readouterr().err


def _tree(directory):
    """Every path under ``directory`` with its content's hash (None for folders)."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        for p in sorted(directory.rglob("*"))
    }


def _hf_trainer_output(directory):
    """What a Hugging Face Trainer leaves, plus a user's own tokenizer and plot."""
    for name in ("checkpoint-500", "checkpoint-final"):
        (directory / name).mkdir(parents=True)
        (directory / name / "trainer_state.json").write_text('{"global_step": 500}')
        (directory / name / "model.safetensors").write_bytes(b"weights")
    (directory / ".backup.tmp").write_text("backup")
    (directory / "tokenizer.json").write_text('{"mine": true}')
    (directory / "loss_curve.png").write_bytes(b"\x89PNG mine")
    (directory / "metrics.jsonl").write_text('{"epoch": 1, "eval_loss": 2.0}\n')


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished 2-step GPT run and its data."""
    root = tmp_path_factory.mktemp("own")
    data = text_file(root)
    assert main(["train", *LM, "--data", str(data), "--run-dir", str(root / "run"), "--steps", "2"]) == 0
    return data, root / "run"


def test_a_fresh_run_into_another_programs_output_is_refused_and_deletes_nothing(tmp_path, capsys):
    """Before: checkpoint-500/, checkpoint-final/ and .backup.tmp deleted, then KeyError: 'step' on
    the foreign metrics.jsonl (and without it, exit 0 over the user's tokenizer.json and plot)."""
    data = text_file(tmp_path)
    out = tmp_path / "hf_out"
    _hf_trainer_output(out)
    before = _tree(out)
    code, err = _train(capsys, out, data)
    assert code == 2, err
    for name in ("checkpoint-500", "checkpoint-final", ".backup.tmp", "tokenizer.json", "loss_curve.png"):
        assert name in err
    assert "not an einformer run" in err and "Nothing was written" in err and "KeyError" not in err
    assert _tree(out) == before
    (out / "metrics.jsonl").unlink()  # without the metrics file: still refused, the user's files intact
    code, err = _train(capsys, out, data)
    assert code == 2 and "tokenizer.json" in err
    assert (out / "tokenizer.json").read_text() == '{"mine": true}' and not (out / "run.json").exists()


def test_run_dir_dot_is_refused_when_it_holds_files(tmp_path, capsys, monkeypatch):
    """Before: ``--run-dir .`` in a working directory wrote into it (and cleaned it) like any other."""
    data = text_file(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    code, err = _train(capsys, ".", data)
    assert code == 2 and "notes.txt" in err and "not an einformer run" in err
    assert _tree(tmp_path) == before


def test_a_directory_holding_only_the_named_data_is_a_fresh_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    data = text_file(run_dir)  # the data file the command names, inside the run directory
    code, err = _train(capsys, run_dir, data)
    assert code == 0, err
    assert read_info(run_dir).data == str(data.resolve()) and data.read_text().startswith("line 0")


def test_cleanup_keeps_what_einformer_did_not_write(run, tmp_path):
    """A run directory holding another program's checkpoint-500/ and .backup.tmp: only einformer's
    own leftovers (an unpublished checkpoint-N of its files, its .NAME.XXXXXXXX.tmp) are removed."""
    _, run_dir = run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, symlinks=True)
    _hf_trainer_output(tmp_path / "foreign")
    for name in ("checkpoint-500", ".backup.tmp"):
        os.rename(tmp_path / "foreign" / name, copy / name)
    (copy / "checkpoint-7").mkdir()  # a crashed write of einformer's
    (copy / "checkpoint-7" / "model.safetensors").write_bytes(b"partial")
    (copy / ".config.json.ab12cd34.tmp").write_text("{")
    assert sorted(clean_partial(copy)) == [".config.json.ab12cd34.tmp", "checkpoint-7"]
    assert (copy / "checkpoint-500" / "trainer_state.json").is_file() and (copy / ".backup.tmp").is_file()


def test_resume_never_follows_last_out_of_the_run(run, tmp_path, capsys):
    """Before: with ``last`` pointing outside the run, resuming deleted the directory it pointed to."""
    data, run_dir = run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, symlinks=True)
    outside = tmp_path / "precious"
    shutil.copytree(copy / "last", outside)  # a complete checkpoint, outside the run
    (outside / "keep.txt").write_text("mine")
    before = _tree(outside)
    os.unlink(copy / "last")
    os.symlink(outside, copy / "last")
    code, err = _train(capsys, copy, data, "--resume", "--steps", 4)
    assert code == 2 and "not a checkpoint of this run" in err, err
    assert _tree(outside) == before
    os.unlink(copy / "last")
    os.symlink("../precious", copy / "last")  # relative, same place
    code, err = _train(capsys, copy, data, "--resume", "--steps", 4)
    assert code == 2 and "not a checkpoint of this run" in err and _tree(outside) == before


def test_a_foreign_line_in_a_run_s_metrics_does_not_stop_its_resume(run, tmp_path, capsys):
    data, run_dir = run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, symlinks=True)
    with open(copy / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3}\n[1, 2]\n')
    code, err = _train(capsys, copy, data, "--resume", "--steps", 4)
    assert code == 0 and "not einformer's" in err, err
    assert [step for step, _ in losses(copy)] == [1, 2, 3, 4]


def test_export_never_overwrites_a_run_and_asks_before_writing_into_a_full_directory(run, tmp_path, capsys):
    """Before: ``einformer export RUN OUT`` replaced the model.safetensors, config.json and
    tokenizer.json of a run at OUT, which was then unusable."""
    _, run_dir = run
    other = tmp_path / "other"
    shutil.copytree(run_dir, other, symlinks=True)
    before = _tree(other)
    for argv in (["export", str(run_dir), str(other)], ["export", str(run_dir), str(other), "--overwrite"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "is an einformer run directory" in err and "never writes into a run" in err
    assert main(["export", str(run_dir), str(other / "hf")]) == 2  # inside a run: also refused
    assert "is an einformer run directory" in capsys.readouterr().err
    assert _tree(other) == before
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("mine")
    assert main(["export", str(run_dir), str(full)]) == 2
    assert "not empty (it holds mine.txt)" in capsys.readouterr().err and sorted(os.listdir(full)) == ["mine.txt"]
    assert main(["export", str(run_dir), str(full), "--overwrite", "--format", "einformer"]) == 0
    assert (full / "model.safetensors").is_file() and (full / "mine.txt").read_text() == "mine"


def test_a_dangling_symlink_as_run_directory_is_named(tmp_path, capsys):
    """Before: ``[Errno 17] File exists``."""
    data = text_file(tmp_path)
    os.symlink(tmp_path / "gone", tmp_path / "link")
    code, err = _train(capsys, tmp_path / "link", data)
    assert code == 2 and "is a symbolic link to" in err and "which does not exist" in err, err


def test_run_json_with_wrong_types_is_refused_naming_the_field(run, tmp_path, capsys):
    """Before: accepted; a later command failed obscurely."""
    data, run_dir = run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, symlinks=True)
    info = json.loads((copy / "run.json").read_text())
    info["block_size"] = "32"
    (copy / "run.json").write_text(json.dumps(info))
    code, err = _train(capsys, copy, data, "--resume", "--steps", 4)
    assert code == 2 and "'block_size'" in err and "not int" in err, err


def test_a_start_killed_while_writing_its_files_leaves_a_directory_a_new_start_takes(tmp_path):
    """run.json (the marker) is written before the tokenizer: a kill between them left tokenizer.json
    without the marker, a directory that was not einformer's, so the next fresh start was refused (seen
    once in CI's twenty-kills test, 'the run ended before kill 2')."""
    from einformer.training.run_dir import check_start, prepare
    from einformer.training.run_info import LanguageModelRunInfo

    def killed(directory):
        (directory / "tokenizer.json").write_text("{", encoding="utf-8")  # half-written, then the kill
        raise KeyboardInterrupt

    data = text_file(tmp_path)
    info = LanguageModelRunInfo(model="gpt", data=str(data), tokenizer="char", block_size=32)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        prepare(run, info, killed, resume=False)
    assert read_info(run) is not None  # the marker came first
    check_start(run, resume=False)  # a job killed while starting: the new one replaces it


def test_a_start_killed_while_writing_its_marker_leaves_a_directory_a_new_start_takes(tmp_path, capsys):
    """A kill inside atomic_write of run.json left only its temporary (.run.json.XXXXXXXX.tmp), and the
    next fresh start refused the directory as another's (seen once in CI's twenty-kills test, 'the run
    ended before kill 2'). A file of the user's beside it still makes the directory another's."""
    import tempfile

    from einformer.training.run_dir import check_start

    run = tmp_path / "run"
    run.mkdir()
    fd, leftover = tempfile.mkstemp(prefix=".run.json.", suffix=".tmp", dir=run)  # atomic_write's name
    os.close(fd)
    check_start(run, resume=False)
    data = text_file(tmp_path)
    code, err = _train(capsys, run, data)
    assert code == 0, err
    assert read_info(run) is not None
    assert not os.path.exists(leftover)  # einformer's own, removed with the run's other temporaries
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / ".run.json.abcdefgh.tmp").write_text("")
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="notes.txt"):
        check_start(tmp_path / "other", resume=False)
    for kind in ("directory", "link"):  # only a regular file of that name is einformer's temporary
        odd = tmp_path / kind
        odd.mkdir()
        if kind == "directory":
            (odd / ".run.json.abcdefgh.tmp").mkdir()
        else:
            (odd / ".run.json.abcdefgh.tmp").symlink_to(tmp_path / "other" / "notes.txt")
        with pytest.raises(ValueError, match="not an einformer run"):
            check_start(odd, resume=False)
