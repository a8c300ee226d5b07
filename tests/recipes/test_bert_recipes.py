"""BERT pre-training (masking statistics, whole words, NSP) and fine-tuning every task through the CLI."""

import json

import pytest
import torch

from einformer import BertConfig, BertModel, load
from einformer.cli import main
from einformer.data.masking import MLMBatches
from einformer.recipes.bert_pretrain import train_wordpiece

LINES = [
    f"the {a} {n} near the {m} {v} the ball number {i} ."
    for i, (a, n, m, v) in enumerate(
        (a, n, m, v)
        for a in ("old", "young", "tall")
        for n in ("teacher", "farmers", "doctor", "pilots")
        for m in ("kings", "girl", "writers")
        for v in ("sees", "likes")
    )
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece(LINES * 3, vocab_size=200)


def test_trained_tokenizer_adds_cls_and_sep_with_segments(tokenizer):
    enc = tokenizer("the old teacher", "sees the ball")
    tokens = [tokenizer.backend.id_to_token(i) for i in enc["input_ids"]]
    assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2 and tokens[-1] == "[SEP]"
    assert enc["token_type_ids"] == [0] * (tokens.index("[SEP]") + 1) + [1] * (len(tokens) - tokens.index("[SEP]") - 1)


def test_masking_statistics(tokenizer):
    """15% of real tokens chosen; of those 80% [MASK], 10% random, 10% unchanged; never a special token."""
    ids = [e.ids for e in tokenizer.backend.encode_batch(LINES, add_special_tokens=False)]
    batches = MLMBatches(ids, tokenizer, 64, 32, seed=0)
    unmasked = MLMBatches(ids, tokenizer, 64, 32, seed=0, mask_probability=0.0)  # same rows, nothing masked
    specials = torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id])
    chosen = masked = kept = eligible = 0
    for i in range(40):
        original, b = unmasked.get(i)["input_ids"], batches.get(i)
        pick = b["labels"] != -100
        assert torch.equal(b["labels"][pick], original[pick])  # the labels are the original tokens
        special = torch.isin(original, specials)
        assert not (pick & special).any()
        chosen += int(pick.sum())
        eligible += int((~special).sum())
        masked += int((b["input_ids"][pick] == tokenizer.mask_token_id).sum())
        kept += int((b["input_ids"][pick] == original[pick]).sum())
    randomised = chosen - masked - kept
    assert abs(chosen / eligible - 0.15) < 0.02
    assert abs(masked / chosen - 0.8) < 0.03
    assert abs(kept / chosen - 0.1) < 0.03  # a random token equal to the original is rare
    assert abs(randomised / chosen - 0.1) < 0.03


def test_whole_word_masking_masks_every_piece(tokenizer):
    text = ["pilotsteachersdoctorkings teachers"] * 16
    ids = [e.ids for e in tokenizer.backend.encode_batch(text, add_special_tokens=False)]
    pieces = len(tokenizer.backend.encode("pilotsteachersdoctorkings", add_special_tokens=False).ids)
    assert pieces > 3  # the long word is split into ## pieces
    b = MLMBatches(ids, tokenizer, 16, 48, seed=1, whole_word=True, mask_probability=0.5).get(0)
    word = b["labels"][:, 1 : 1 + pieces] != -100  # after [CLS]
    assert bool((word.all(1) | ~word.any(1)).all())  # all pieces or none
    assert word.all(1).any() and (~word.any(1)).any()


def test_pretraining_learns_and_nsp(tmp_path):
    data = tmp_path / "text.txt"
    data.write_text("\n".join(LINES * 4))
    common = [
        "--model",
        "bert",
        "--data",
        str(data),
        "--preset",
        "tiny",
        "--vocab-size",
        "200",
        "--block-size",
        "32",
        "--batch-size",
        "16",
        "--eval-every",
        "20",
        "--save-every",
        "20",
        "--warmup",
        "5",
        "--lr",
        "2e-3",
        "--no-progress",
        "--dropout",
        "0",
    ]
    assert main(["train", *common, "--steps", "60", "--run-dir", str(tmp_path / "mlm")]) == 0
    evals = [
        json.loads(x)["eval"] for x in (tmp_path / "mlm" / "metrics.jsonl").read_text().splitlines() if "eval" in x
    ]
    assert evals[-1]["loss"] < evals[0]["loss"]
    assert (
        main(
            [
                "train",
                *common,
                "--steps",
                "5",
                "--next-sentence",
                "--whole-word-masking",
                "--run-dir",
                str(tmp_path / "nsp"),
            ]
        )
        == 0
    )
    assert BertModel.from_pretrained(tmp_path / "nsp").config.n_layers == 2  # the encoder of a pre-training run


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


TASKS = {
    "classify": lambda i: {"text": f"the {('young', 'old')[i % 2]} teacher {i}", "label": ("neg", "pos")[i % 2]},
    "regress": lambda i: {"text": f"score {i % 5}", "label": float(i % 5)},
    "tag": lambda i: {"tokens": ["john", "sees", "mary", str(i)], "tags": ["B-PER", "O", "B-PER", "O"]},
    "qa": lambda i: {"question": "who sees?", "context": f"john sees mary {i}", "answer": "john", "answer_start": 0},
    "choice": lambda i: {"context": "the sky is", "choices": ["blue", f"loud {i}"], "label": 0},
}


@pytest.mark.parametrize("task", list(TASKS))
def test_finetune_and_predict_every_task(tmp_path, task, tokenizer, capsys):
    base = tmp_path / "base"
    BertModel(BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size)).save_pretrained(base, format="hf")
    tokenizer.save_pretrained(base)
    train = write_jsonl(tmp_path / "train.jsonl", [TASKS[task](i) for i in range(40)])
    val = write_jsonl(tmp_path / "val.jsonl", [TASKS[task](i) for i in range(40, 52)])
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="start from random values"):
        assert (
            main(
                [
                    "finetune",
                    "--model",
                    str(base),
                    "--task",
                    task,
                    "--data",
                    str(train),
                    "--val",
                    str(val),
                    "--run-dir",
                    str(run),
                    "--steps",
                    "40",
                    "--warmup",
                    "2",
                    "--batch-size",
                    "8",
                    "--lr",
                    "3e-3",
                    "--eval-every",
                    "10",
                    "--save-every",
                    "10",
                    "--no-progress",
                ]
            )
            == 0
        )
    assert "best validation score" in capsys.readouterr().out
    assert main(["predict", str(run), "--data", str(val), "--evaluate"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics and all(isinstance(v, float) for v in metrics.values())
    raw = {
        "classify": ["the old teacher 99"],
        "regress": ["score 3"],
        "tag": ["john sees mary 7"],
        "qa": ["john sees mary 60", "--question", "who sees?"],
    }
    if task in raw:  # raw text, no gold labels
        assert main(["predict", str(run), *raw[task]]) == 0
        row = json.loads(capsys.readouterr().out.splitlines()[0])
        check_raw_prediction(task, row, run)


def check_raw_prediction(task, row, run):
    if task == "classify":  # a trivially learnable task, its label names kept by the run
        assert row["labels"][0]["label"] == "pos" and {x["label"] for x in row["labels"]} == {"neg", "pos"}
        assert load(run).model.config.id2label == {0: "neg", 1: "pos"}
    elif task == "regress":
        assert isinstance(row["labels"][0]["score"], float)
    elif task == "tag":
        text = row["text"]
        assert all(text[e["start"] : e["end"]] == e["word"] for e in row["entities"])
        assert {e["entity_group"] for e in row["entities"]} <= {"PER"}
    else:
        answer = row["answer"]
        assert row["context"][answer["start"] : answer["end"]] == answer["answer"] and answer["answer"]


def test_bad_finetune_records(tmp_path, capsys):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"tokens": ["a", "b"], "tags": ["O"]}])
    assert (
        main(
            [
                "finetune",
                "--model",
                str(tmp_path),
                "--task",
                "tag",
                "--data",
                str(bad),
                "--val",
                str(bad),
                "--run-dir",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "bad.jsonl:1: 2 tokens but 1 tags" in capsys.readouterr().err
