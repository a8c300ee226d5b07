"""`einformer predict --data` on records without gold labels (#31): it prints the predictions, the same
ones the same records with labels give (the labels are not read), and only --evaluate asks for labels.
`--split` / `--val-split` pick a split of a DatasetDict that the datasets library saved (finetune and
predict): the run equals the run on the same records as JSONL files, and a wrong name is refused with
the splits listed."""

import json

import pytest

from einformer.data.finetune import encode_records, read_records
from einformer.data.pairs import DataError
from tests.recipes.test_finetune_formats import RECORDS, base, finetune, losses, write  # noqa: F401  (base: fixture)

datasets = pytest.importorskip("datasets")
TRAIN, VAL, TEST = RECORDS[:16], RECORDS[16:20], RECORDS[20:]
UNLABELLED = [{k: v for k, v in r.items() if k != "label"} for r in TEST]


def printed(capsys, argv):
    from einformer.cli import main

    capsys.readouterr()
    assert main(argv) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.fixture(scope="module")
def jsonl_run(base, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("jsonl-run")
    train, val = write(root / "train.jsonl", TRAIN, "jsonl"), write(root / "val.jsonl", VAL, "jsonl")
    assert finetune(base, train, root / "run", "--val", val) == 0
    return root / "run"


def test_predict_on_records_without_labels(jsonl_run, tmp_path, capsys):
    labelled = write(tmp_path / "labelled.jsonl", TEST, "jsonl")
    gold = printed(capsys, ["predict", str(jsonl_run), "--data", str(labelled)])
    assert len(gold) == len(TEST) and set(gold) <= {"good", "bad"}
    for kind in ("jsonl", "csv"):
        bare = write(tmp_path / f"bare.{kind}", UNLABELLED, kind)
        assert printed(capsys, ["predict", str(jsonl_run), "--data", str(bare)]) == gold  # predictions only
    from einformer.cli import main

    assert main(["predict", str(jsonl_run), "--data", str(bare), "--evaluate"]) == 2  # metrics need the labels
    assert "no label column" in capsys.readouterr().err


@pytest.mark.parametrize(
    "task, record, gold",
    [
        ("tag", {"tokens": ["John", "lives", "in", "Paris"]}, {"tags": ["B-PER", "O", "O", "B-LOC"]}),
        ("qa", {"question": "Where?", "context": "John lives in Paris."}, {"answer": "Paris", "answer_start": 14}),
        ("choice", {"context": "The sky is", "choices": ["blue", "loud"]}, {"label": 1}),
    ],
)
def test_every_task_reads_records_without_labels(base, tmp_path, task, record, gold):  # noqa: F811
    """The inputs a task encodes without its labels equal those it encodes with them (and a tagger still
    marks each word's first piece for prediction)."""
    from einformer import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    bare, full = (
        write(tmp_path / "bare.jsonl", [record], "jsonl"),
        write(tmp_path / "full.jsonl", [{**record, **gold}], "jsonl"),
    )
    with pytest.raises(DataError, match="no (tags|answer|label)"):
        read_records(bare, task)  # training and --evaluate still need them
    labels = ["B-LOC", "B-PER", "O"] if task == "tag" else []
    got = encode_records(read_records(bare, task, gold=False), task, tok, labels, 32)[0]
    want = encode_records(read_records(full, task, gold=False), task, tok, labels, 32)[0]
    with_gold = encode_records(read_records(full, task), task, tok, labels, 32)[0]
    assert got == want
    inputs = ("choices",) if task == "choice" else ("input_ids", "token_type_ids", "attention_mask")
    assert all(got[k] == with_gold[k] for k in inputs)
    if task == "tag":
        assert [x == -100 for x in got["labels"]] == [x == -100 for x in with_gold["labels"]]


def test_split_picks_a_datasetdict_split(base, jsonl_run, tmp_path, capsys):  # noqa: F811
    """A DatasetDict with splits named "mine" and "dev" trains as the JSONL files do (same losses); predict
    reads its test split by default (which has no labels), or the split named."""
    folder = tmp_path / "dict"
    splits = {"mine": TRAIN, "dev": VAL, "test": UNLABELLED}
    datasets.DatasetDict({k: datasets.Dataset.from_list(v) for k, v in splits.items()}).save_to_disk(str(folder))
    run = tmp_path / "run"
    assert finetune(base, folder, run, "--split", "mine", "--val-split", "dev") == 0
    assert losses(run) == losses(jsonl_run)
    bare = write(tmp_path / "bare.jsonl", UNLABELLED, "jsonl")
    assert printed(capsys, ["predict", str(run), "--data", str(folder)]) == printed(
        capsys, ["predict", str(jsonl_run), "--data", str(bare)]
    )
    val = write(tmp_path / "val.jsonl", VAL, "jsonl")
    assert printed(capsys, ["predict", str(run), "--data", str(folder), "--split", "dev", "--evaluate"]) == printed(
        capsys, ["predict", str(jsonl_run), "--data", str(val), "--evaluate"]
    )
    assert finetune(base, folder, tmp_path / "run2") == 2  # no "train" split: refused, the splits listed
    assert "holds the splits ['dev', 'mine', 'test'], not 'train'" in capsys.readouterr().err
    from einformer.cli import main

    assert main(["predict", str(run), "--data", str(folder), "--split", "tset"]) == 2
    assert "holds the splits ['dev', 'mine', 'test'], not 'tset'; name one with --split" in capsys.readouterr().err
    assert main(["predict", str(run), "--data", str(bare), "--split", "test"]) == 2  # a file has no splits
    assert "--split test: " in capsys.readouterr().err
    assert finetune(base, bare, tmp_path / "run3", "--val-split", "dev") == 2
    assert "--val-split dev: " in capsys.readouterr().err


def test_the_splits_are_recorded_and_a_resume_on_another_is_refused(base, tmp_path, capsys):  # noqa: F811
    """run.json records the splits a fine-tune read; --resume without split flags reads them again, and
    --resume naming another split is refused by name (before: a resume on another split went unnoticed)."""
    folder = tmp_path / "dict"
    splits = {"mine": TRAIN, "dev": VAL, "other": TRAIN[::-1]}
    datasets.DatasetDict({k: datasets.Dataset.from_list(v) for k, v in splits.items()}).save_to_disk(str(folder))
    run = tmp_path / "run"
    assert finetune(base, folder, run, "--split", "mine", "--val-split", "dev") == 0
    info = json.loads((run / "run.json").read_text())
    assert (info["split"], info["val_split"]) == ("mine", "dev")
    assert finetune(base, folder, run, "--resume") == 0  # the recorded splits again: the same job
    capsys.readouterr()
    assert finetune(base, folder, run, "--resume", "--split", "other") == 2
    assert "split: 'mine' -> 'other'" in capsys.readouterr().err
    plain = tmp_path / "plain"
    train, val = write(tmp_path / "train.jsonl", TRAIN, "jsonl"), write(tmp_path / "val.jsonl", VAL, "jsonl")
    assert finetune(base, train, plain, "--val", val) == 0
    info = json.loads((plain / "run.json").read_text())
    assert (info["split"], info["val_split"]) == (None, None)  # files have no splits
