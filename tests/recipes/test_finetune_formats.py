"""`einformer finetune` and `predict` read a task's records from JSONL, CSV, TSV, Parquet and a `datasets`
save_to_disk directory: the same records give the same run (same seed: the same losses, the same
weights); Hugging Face's column names by default, --text-column ... for others; --val optional (a
seeded, announced split); a bad file is named with its line, the task's fields and a valid line; the
closing line's best step is the one the log marks; records with null or numeric text, a choice label
out of range or no choices are refused by place."""

import contextlib
import csv
import io
import json
import subprocess
import sys
import warnings

import pytest
import torch
from safetensors.torch import load_file

from einformer import BertConfig, BertModel
from einformer.cli import main
from einformer.data.finetune import read_records
from einformer.data.pairs import DataError
from einformer.recipes.bert_pretrain import train_wordpiece

datasets = pytest.importorskip("datasets")

WORDS = ("good", "bad")
RECORDS = [
    {"text": f"the {('good', 'bad')[i % 2]} film {i}", "text_pair": f"seen {i % 3}", "label": WORDS[i % 2]}
    for i in range(24)
]
FORMATS = ("jsonl", "csv", "tsv", "parquet", "datasets")
RUN_FORMATS = ("jsonl", "csv", "parquet", "datasets")  # the must-show's; TSV: the same records as CSV (below)


def write(path, records, kind):
    """``records`` as a file (or directory) of ``kind``: every value kept as it is."""
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif kind in ("csv", "tsv"):
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, list(records[0]), delimiter="\t" if kind == "tsv" else ",")
            writer.writeheader()
            writer.writerows(records)
    elif kind == "parquet":
        datasets.Dataset.from_list(records).to_parquet(str(path))
    else:
        datasets.Dataset.from_list(records).save_to_disk(str(path))
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("bert")
    tokenizer = train_wordpiece([r["text"] + " " + r["text_pair"] for r in RECORDS], vocab_size=80)
    BertModel(BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size)).save_pretrained(root, format="hf")
    tokenizer.save_pretrained(root)
    return root


def finetune(base, data, run, *extra):
    argv = ["finetune", "--model", str(base), "--task", "classify", "--data", str(data), "--run-dir", str(run),
            "--steps", "4", "--batch-size", "4", "--eval-every", "2", "--save-every", "4", "--log-every", "1",
            "--warmup", "1", "--lr", "3e-3", "--no-progress", *map(str, extra)]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the new head "starts from random values"
        return main(argv)


@pytest.fixture(scope="module")
def runs(base, tmp_path_factory):
    """One run per format of the same records, no --val (the seeded split), and what each printed."""
    root, out = tmp_path_factory.mktemp("runs"), {}
    for kind in RUN_FORMATS:
        data = write(root / f"train.{kind}" if kind != "datasets" else root / "train_ds", RECORDS, kind)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert finetune(base, data, root / f"run-{kind}") == 0
        out[kind] = (root / f"run-{kind}", printed.getvalue().splitlines())
    return out


def losses(run):
    """metrics.jsonl without its timings."""
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "tokens_per_s"} for row in rows]


def test_every_format_gives_the_jsonl_run(runs):
    """The must-show: CSV, Parquet and a datasets directory give the JSONL run's losses and weights."""
    reference, _ = runs["jsonl"]
    expected = losses(reference)
    assert [h["step"] for h in expected if "loss" in h] == [1, 2, 3, 4]
    weights = load_file(reference / "model.safetensors")
    for kind in RUN_FORMATS[1:]:
        run, _ = runs[kind]
        assert losses(run) == expected, kind  # every loss and metric, to the last bit
        for name, tensor in load_file(run / "model.safetensors").items():
            torch.testing.assert_close(tensor, weights[name], atol=0, rtol=0)


def test_without_val_a_seeded_tenth_is_held_out_and_announced(runs):
    """Before: --val was required."""
    for kind, (_, lines) in runs.items():
        name = "train_ds" if kind == "datasets" else f"train.{kind}"
        assert any(
            line.startswith("no --val: 2 of the 24 records of ")
            and f"{name} held out for validation (10%, seed 0); training on 22" in line
            for line in lines
        ), lines


def test_every_format_reads_the_same_records(tmp_path):
    for kind in FORMATS:
        path = write(tmp_path / (f"train.{kind}" if kind != "datasets" else "train_ds"), RECORDS, kind)
        assert read_records(path, "classify") == RECORDS, kind


def test_hugging_face_column_names_and_named_columns(tmp_path):
    glue = [{"sentence1": r["text"], "sentence2": r["text_pair"], "labels": r["label"]} for r in RECORDS]
    expected = [{"text": r["text"], "text_pair": r["text_pair"], "label": r["label"]} for r in RECORDS]
    assert read_records(write(tmp_path / "glue.csv", glue, "csv"), "classify") == expected
    own = [{"review": r["text"], "stars": r["label"]} for r in RECORDS]
    path = write(tmp_path / "own.tsv", own, "tsv")
    columns = {"text": "review", "label": "stars"}
    assert read_records(path, "classify", columns=columns) == [
        {"text": r["text"], "label": r["label"]} for r in RECORDS
    ]
    with pytest.raises(DataError, match=r"own.tsv: no column 'rating' \(--label-column\); the file has the columns "
                                        r"\['review', 'stars'\]"):  # fmt: skip
        read_records(path, "classify", columns={"text": "review", "label": "rating"})
    with pytest.raises(DataError, match=r"own.tsv: no text column \(one of \['text', 'sentence', 'sentence1'\], or "
                                        r"name yours with --text-column\); the file has the columns"):  # fmt: skip
        read_records(path, "classify")


def test_the_cli_passes_the_column_flags(base, tmp_path, capsys):
    path = write(tmp_path / "own.csv", [{"review": r["text"], "stars": r["label"]} for r in RECORDS], "csv")
    assert finetune(base, path, tmp_path / "run", "--text-column", "review", "--label-column", "rating") == 2
    assert (
        "no column 'rating' (--label-column); the file has the columns ['review', 'stars']" in capsys.readouterr().err
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "name, content, phrase",
    [
        ("train.jsonl", "text\tlabel\na fine film\tgood\n", "train.jsonl:1: invalid JSON (Expecting value at column 1)"
         " (it holds tabs: a TSV file? name it .tsv)"),
        ("train.jsonl", '{"review": "a", "label": "good"}\n', "train.jsonl:1: no text column (one of ['text', "
         "'sentence', 'sentence1'], or name yours with --text-column); its records have the fields "
         "['review', 'label']"),
        ("train.jsonl", '{"text": "a", "label": "good"}\n{"text": "b"}\n', "train.jsonl:2: no ['label'] in this "
         "record"),
        ("train.csv", "text\tlabel\na fine film\tgood\n", "train.csv: no text column"),
        ("train.csv", "text,label\na,good\nb,c,good\n", "train.csv:3: 3 fields where the header line has 2"),
        ("train.csv", "text,label\n", "train.csv: no records"),
    ],
)  # fmt: skip
def test_a_bad_file_names_the_line_the_fields_and_a_valid_line(tmp_path, name, content, phrase):
    """Before: a TSV got only "train.tsv:1: invalid JSON", with no word about the expected fields."""
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError) as caught:
        read_records(tmp_path / name, "classify")
    message = str(caught.value)
    assert phrase in message
    valid = (
        'a valid line: {"text": "a moving film", "label": "positive"}'
        if name.endswith(".jsonl")
        else "a valid CSV file starts: text,label / a moving film,positive"
    )
    assert "A classify record needs the fields text and label (text_pair optional)" in message and valid in message


@pytest.mark.parametrize(
    "task, record, phrase",
    [
        ("classify", {"text": None, "label": "a"}, "train.jsonl:2: text must be text, got None"),
        ("classify", {"text": 5, "label": "a"}, "train.jsonl:2: text must be text, got 5"),
        ("classify", {"text": "x", "text_pair": 7, "label": "a"}, "train.jsonl:2: text_pair must be text, got 7"),
        ("regress", {"text": [1], "label": 0.5}, "train.jsonl:2: text must be text, got [1]"),
        ("tag", {"tokens": ["a", None], "tags": ["O", "O"]}, "train.jsonl:2: tokens must be a list of texts"),
        ("tag", {"tokens": "a b", "tags": ["O", "O"]}, "train.jsonl:2: tokens must be a list of texts"),
        ("qa", {"question": None, "context": "ab", "answer": "a", "answer_start": 0}, "question must be text"),
        ("qa", {"question": "q", "context": "ab", "answer": "a", "answer_start": "0"}, "answer_start must be a"),
        ("choice", {"context": "c", "choices": ["a", "b"], "label": 2}, "train.jsonl:2: the choice label 2 is not "
         "the index of one of the 2 choices (0 to 1)"),
        ("choice", {"context": "c", "choices": ["a", "b"], "label": -1}, "the choice label -1 is not the index"),
        ("choice", {"context": "c", "choices": [], "label": 0}, "train.jsonl:2: no choices"),
        ("choice", {"context": "c", "choices": ["a", 3], "label": 0}, "choices must be a list of texts"),
        ("choice", {"context": "c", "choices": ["a", "b", "c"], "label": 0}, "train.jsonl:2: 3 choices where the "
         "first record has 2"),
    ],
)  # fmt: skip
def test_null_or_numeric_text_and_bad_choices_are_named(tmp_path, task, record, phrase):
    """Before: a raw TypeError, IndexError or KeyError once training or prediction began (#32 group 9)."""
    good = {
        "classify": {"text": "x", "label": "a"},
        "regress": {"text": "x", "label": 0.5},
        "tag": {"tokens": ["a"], "tags": ["O"]},
        "qa": {"question": "q", "context": "ab", "answer": "a", "answer_start": 0},
        "choice": {"context": "c", "choices": ["a", "b"], "label": 0},
    }[task]
    path = write(tmp_path / "train.jsonl", [good, record], "jsonl")
    with pytest.raises(DataError) as caught:
        read_records(path, task)
    assert phrase in str(caught.value) and str(path) in str(caught.value)


def test_predict_refuses_null_text_by_line(runs, tmp_path, capsys):
    run, _ = runs["csv"]
    data = write(
        tmp_path / "test.jsonl", [{"text": "the good film", "label": "good"}, {"text": None, "label": "bad"}], "jsonl"
    )
    assert main(["predict", str(run), "--data", str(data)]) == 2
    assert "test.jsonl:2: text must be text, got None" in capsys.readouterr().err
    assert main(["predict", str(run), "--data", str(write(tmp_path / "test.parquet", RECORDS[:4], "parquet"))]) == 0
    assert [json.loads(x) for x in capsys.readouterr().out.splitlines()][0] in WORDS


def test_predict_reads_every_format_alike(runs, tmp_path, capsys):
    run, _ = runs["jsonl"]
    outputs = []
    for kind in FORMATS:
        data = write(tmp_path / (f"test.{kind}" if kind != "datasets" else "test_ds"), RECORDS[:6], kind)
        assert main(["predict", str(run), "--data", str(data)]) == 0
        outputs.append(capsys.readouterr().out)
    assert len(set(outputs)) == 1 and len(outputs[0].splitlines()) == 6


def test_datasets_class_labels_and_splits(tmp_path):
    """A DatasetDict's split by name; ClassLabel integers (conll2003's ner_tags) read as their names."""
    names = ["O", "B-PER", "I-PER"]
    features = datasets.Features(
        {"tokens": datasets.List(datasets.Value("string")), "ner_tags": datasets.List(datasets.ClassLabel(names=names))}
    )
    rows = {"tokens": [["John", "Smith", "runs"], ["Mary", "sings"]], "ner_tags": [[1, 2, 0], [1, 0]]}
    split = datasets.Dataset.from_dict(rows, features=features)
    datasets.DatasetDict({"train": split, "validation": split.select([1])}).save_to_disk(str(tmp_path / "conll"))
    assert read_records(tmp_path / "conll", "tag") == [
        {"tokens": ["John", "Smith", "runs"], "tags": ["B-PER", "I-PER", "O"]},
        {"tokens": ["Mary", "sings"], "tags": ["B-PER", "O"]},
    ]
    assert read_records(tmp_path / "conll", "tag", split="validation") == [
        {"tokens": ["Mary", "sings"], "tags": ["B-PER", "O"]}
    ]
    split.to_parquet(str(tmp_path / "conll.parquet"))
    assert read_records(tmp_path / "conll.parquet", "tag")[0]["tags"] == ["B-PER", "I-PER", "O"]
    from einformer.data.tables import dataset_splits

    assert dataset_splits(tmp_path / "conll") == ["train", "validation"]  # finetune's --val when none is given
    with pytest.raises(DataError, match=r"conll holds the splits \['train', 'validation'\], not 'test'"):
        read_records(tmp_path / "conll", "tag", split="test")


def test_squad_answers_and_csv_lists(tmp_path):
    squad = [{"question": "who?", "context": "John runs", "answers": {"text": ["John"], "answer_start": [0]}}]
    datasets.Dataset.from_list(squad).save_to_disk(str(tmp_path / "squad"))
    assert read_records(tmp_path / "squad", "qa") == [
        {"question": "who?", "context": "John runs", "answer": "John", "answer_start": 0}
    ]
    (tmp_path / "tags.tsv").write_text('tokens\ttags\nJohn runs\tB-PER O\n["New York", "x"]\t["B-LOC", "O"]\n')
    assert read_records(tmp_path / "tags.tsv", "tag") == [
        {"tokens": ["John", "runs"], "tags": ["B-PER", "O"]},
        {"tokens": ["New York", "x"], "tags": ["B-LOC", "O"]},
    ]
    (tmp_path / "choice.csv").write_text('context,choices,label\nThe sky is,"[""blue"", ""loud""]",1\n')
    assert read_records(tmp_path / "choice.csv", "choice") == [
        {"context": "The sky is", "choices": ["blue", "loud"], "label": 1}
    ]


def test_without_datasets_the_package_imports_and_names_the_extra(tmp_path):
    code = (
        "import sys\n"
        "sys.modules.update({'datasets': None, 'pyarrow': None, 'pyarrow.parquet': None})\n"
        "import einformer, einformer.cli, einformer.data.finetune as f\n"
        "for name in ('x.parquet', 'd'):\n"
        "    try: f.read_records(sys.argv[1] + '/' + name, 'classify')\n"
        "    except f.DataError as e: print(e)\n"
    )
    (tmp_path / "d").mkdir()
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all('pip install "einformer[data]"' in line for line in lines), out


def test_the_closing_line_names_the_step_the_log_marks_best(base, tmp_path, monkeypatch, capsys):
    """Before: "best validation score 1.0000 at step 40" while the log marked step 20 (a tie)."""
    monkeypatch.setattr("einformer.recipes.bert_finetune.evaluate_examples", lambda run, ex: {"accuracy": 1.0})
    data = write(tmp_path / "train.jsonl", RECORDS, "jsonl")
    assert finetune(base, data, tmp_path / "run", "--val", data) == 0
    out = capsys.readouterr().out
    marked = [h["step"] for h in losses(tmp_path / "run") if h.get("best")]
    assert marked == [2] and "step 2: accuracy 1.0000 (best)" in out and "step 4: accuracy 1.0000\n" in out
    assert "best validation score 1.0000 at step 2" in out
