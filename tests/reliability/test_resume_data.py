"""Resume checks the data itself (issue #32, group 2): every data file's content fingerprint is
recorded in run.json and compared on --resume, fine-tuning included; --preset is compared too."""

import json

import pytest

from einformer.cli import main
from einformer.training.run_info import read_info

from .helpers import LM, text_file


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume_data")
    data = text_file(root)
    run = root / "run"
    assert main(["train", *LM, "--data", str(data), "--run-dir", str(run), "--steps", "2"]) == 0
    return data, run


def _resume(data, run, *extra):
    return main(["train", *LM, "--data", str(data), "--run-dir", str(run), "--resume", "--steps", "4", *extra])


def test_the_fingerprint_is_of_the_content_not_the_name_or_size(tmp_path):
    from einformer.training.run_info import fingerprint

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("abcd" * 300_000)
    b.write_text("abcd" * 299_999 + "abce")  # same size, one byte differs, far from the start
    assert fingerprint(a) != fingerprint(b) and fingerprint(a).startswith("1200000:")
    b.write_text("abcd" * 300_000)
    assert fingerprint(a) == fingerprint(b)


def test_resume_refuses_data_of_the_same_name_and_size_but_other_content(lm, capsys):
    """Before: the run resumed on the new text and its losses diverged (3.640 against 3.555 at step 6)."""
    from einformer.training.run_info import fingerprint

    data, run = lm
    assert read_info(run).fingerprints == {"data": fingerprint(data)}
    original = data.read_text()
    changed = original.replace("quick", "quack")
    assert len(changed) == len(original)
    try:
        data.write_text(changed)
        assert _resume(data, run) == 2
        err = capsys.readouterr().err
        assert f"data: the content of {data.resolve()} changed since the run started" in err, err
        assert "the same" in err and "other content" in err
    finally:
        data.write_text(original)


def test_resume_refuses_another_preset_and_accepts_none(lm, capsys):
    """Before: ``--preset small`` on a resumed tiny run was ignored, with exit 0."""
    data, run = lm
    argv = ["train", *LM, "--data", str(data), "--run-dir", str(run), "--resume", "--steps", "4"]
    argv[argv.index("tiny")] = "small"
    assert main(argv) == 2
    assert "preset: 'tiny' -> 'small'" in capsys.readouterr().err


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    from einformer import BertConfig, BertModel
    from einformer.recipes.bert_pretrain import train_wordpiece

    root = tmp_path_factory.mktemp("finetune_data")
    tokenizer = train_wordpiece([f"the old teacher sees the ball number {i} ." for i in range(50)], vocab_size=120)
    BertModel(BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size)).save_pretrained(root, format="hf")
    tokenizer.save_pretrained(root)
    records = [{"text": f"the old teacher {i}", "label": ("a", "b")[i % 2]} for i in range(12)]
    train, val = _jsonl(root / "train.jsonl", records), _jsonl(root / "val.jsonl", records[:4])
    assert main(_finetune_argv(root, train, val)) == 0
    return root, train, val, records


def _finetune_argv(root, train, val, *extra):
    return ["finetune", "--model", str(root), "--task", "classify", "--data", str(train), "--val", str(val),
            "--run-dir", str(root / "run"), "--steps", "2", "--batch-size", "4", "--eval-every", "2",
            "--warmup", "1", "--no-progress", *extra]  # fmt: skip


def test_finetune_resume_refuses_other_data_or_validation_files_by_name(finetuned, tmp_path, capsys):
    """Before: ``finetune --resume`` with another --data or --val was accepted silently."""
    root, train, val, records = finetuned
    other = _jsonl(tmp_path / "other.jsonl", records[::-1])
    assert main(_finetune_argv(root, other, val, "--resume", "--steps", "4")) == 2
    assert f"data: {str(train.resolve())!r} -> {str(other.resolve())!r}" in capsys.readouterr().err
    assert main(_finetune_argv(root, train, other, "--resume", "--steps", "4")) == 2
    assert f"val: {str(val.resolve())!r} -> {str(other.resolve())!r}" in capsys.readouterr().err
    original = val.read_text()
    try:
        _jsonl(val, records[4:8])  # the same path, other records
        assert main(_finetune_argv(root, train, val, "--resume", "--steps", "4")) == 2
        assert "val: the content of" in capsys.readouterr().err
    finally:
        val.write_text(original)
    assert main(_finetune_argv(root, train, val, "--resume", "--steps", "4")) == 0
