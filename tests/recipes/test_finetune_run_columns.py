"""A fine-tune run records the columns named for its data (#31): `einformer predict RUN --data FILE` reads
them without the flags again, --resume checks them like its other settings (and reads the run's own when
none are named), and a `datasets` save_to_disk directory given as --data is fingerprinted (its arrow
files), so changed records under the same directory are refused on --resume as a changed file is."""

import json
import shutil

import pytest

from einformer.cli import main
from tests.recipes.test_finetune_formats import RECORDS, base, finetune, write  # noqa: F401  (base: the fixture)

datasets = pytest.importorskip("datasets")
OWN = [{"review": r["text"], "stars": r["label"]} for r in RECORDS]
FLAGS = ("--text-column", "review", "--label-column", "stars")


def printed(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_predict_and_resume_use_the_columns_the_run_recorded(base, tmp_path, capsys):  # noqa: F811
    data = write(tmp_path / "own.csv", OWN, "csv")
    run = tmp_path / "run"
    assert finetune(base, data, run, *FLAGS) == 0
    assert json.loads((run / "run.json").read_text())["columns"] == {"text": "review", "label": "stars"}
    named = printed(capsys, ["predict", str(run), "--data", str(data), *FLAGS])
    assert printed(capsys, ["predict", str(run), "--data", str(data)]) == named and len(named) == len(OWN)
    score = printed(capsys, ["predict", str(run), "--data", str(data), "--evaluate", *FLAGS])
    assert printed(capsys, ["predict", str(run), "--data", str(data), "--evaluate"]) == score
    assert finetune(base, data, run, "--resume", "--steps", "6", "--text-column", "stars") == 2
    assert (
        "columns: {'label': 'stars', 'text': 'review'} -> {'label': 'stars', 'text': 'stars'}"
        in capsys.readouterr().err
    )
    assert finetune(base, data, run, "--resume", "--steps", "6") == 0  # none named: the run's own
    assert finetune(base, data, run, "--resume", "--steps", "8", "--label-column", "stars") == 0  # the run's
    assert json.loads((run / "run.json").read_text())["columns"] == {"text": "review", "label": "stars"}


def test_a_datasets_directory_is_fingerprinted_for_resume(base, tmp_path, capsys):  # noqa: F811
    data = write(tmp_path / "train_ds", RECORDS, "datasets")
    run = tmp_path / "run"
    assert finetune(base, data, run) == 0
    recorded = json.loads((run / "run.json").read_text())["fingerprints"]
    assert set(recorded) == {"data"}
    shutil.rmtree(data)
    write(data, RECORDS[::-1], "datasets")  # the same directory, the records in another order
    assert finetune(base, data, run, "--resume", "--steps", "6") == 2
    assert f"data: the content of {data.resolve()} changed since the run started" in capsys.readouterr().err
    shutil.rmtree(data)
    write(data, RECORDS, "datasets")  # the original records again
    assert finetune(base, data, run, "--resume", "--steps", "6") == 0
