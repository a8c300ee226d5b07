"""Language modelling end to end through the CLI: train on a text file, evaluate, generate, resume."""

import json
import math

import pytest
import torch

from einformer.cli import main
from einformer.data.text import LMBatches
from einformer.recipes.language_model import evaluate_lm, load_lm_run

TEXT = "".join(f"line {i % 7}: the quick brown fox jumps over the lazy dog.\n" for i in range(300))
FAST = [
    "--preset",
    "tiny",
    "--block-size",
    "32",
    "--batch-size",
    "8",
    "--eval-every",
    "20",
    "--save-every",
    "20",
    "--warmup",
    "5",
    "--lr",
    "3e-3",
    "--no-progress",
]


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_train_generate_and_bits_per_char(tmp_path, text_file, capsys):
    run = tmp_path / "lm"
    assert (
        main(["train", "--model", "gpt", "--data", str(text_file), "--run-dir", str(run), "--steps", "60", *FAST]) == 0
    )
    assert "best validation loss" in capsys.readouterr().out
    history = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [h["eval"] for h in history if "eval" in h]
    assert evals[-1]["loss"] < evals[0]["loss"] < math.log(40)
    assert evals[-1]["bits_per_char"] == pytest.approx(evals[-1]["loss"] / math.log(2))  # char level: 1 token/char
    lm = load_lm_run(run)
    assert lm.info.split_char == int(len(TEXT) * 0.9)
    from einformer import pipeline  # the text-generation pipeline: generate's tokens, transformers' shape

    out = pipeline("text-generation", run)(["line 3", "line"], max_new_tokens=8, do_sample=False)
    assert [o[0]["generated_text"] for o in out] == [p + t for p, t in zip(["line 3", "line"], [
        generate_text_greedy(run, "line 3"), generate_text_greedy(run, "line")], strict=True)]  # fmt: skip
    assert main(["generate", str(run), "--prompt", "line 3", "--max-new-tokens", "20", "--seed", "0"]) == 0
    streamed = capsys.readouterr().out
    assert streamed.startswith("line 3") and len(streamed) > 10


def test_generate_batch_from_stdin(tmp_path, text_file, capsys, monkeypatch):
    import io

    run = tmp_path / "lm"
    assert (
        main(["train", "--model", "gpt", "--data", str(text_file), "--run-dir", str(run), "--steps", "20", *FAST]) == 0
    )
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("line 1\nthe quick\n"))
    assert main(["generate", str(run), "--max-new-tokens", "10", "--greedy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("line 1") and "---\nthe quick" in out


def test_bpe_level_round_trips_text(tmp_path, text_file):
    run = tmp_path / "lm"
    assert (
        main(
            [
                "train",
                "--model",
                "gpt",
                "--data",
                str(text_file),
                "--tokenizer",
                "bpe",
                "--vocab-size",
                "300",
                "--run-dir",
                str(run),
                "--steps",
                "5",
                *FAST,
            ]
        )
        == 0
    )
    tok = load_lm_run(run).tokenizer
    assert tok.decode(tok.encode(TEXT[:500])) == TEXT[:500]


def test_batches_random_and_contiguous():
    ids = torch.arange(100)
    random_batches = LMBatches(ids, 10, 4, sampling="random", seed=1)
    assert torch.equal(random_batches.get(3)["input_ids"], LMBatches(ids, 10, 4, seed=1).get(3)["input_ids"])
    rows = random_batches.get(0)["input_ids"]
    assert ((rows[:, 1:] - rows[:, :-1]) == 1).all()  # consecutive text
    contiguous = LMBatches(ids, 10, 5, sampling="contiguous", seed=0)
    epoch = torch.cat([contiguous.get(i)["input_ids"] for i in range(len(contiguous))])
    assert sorted(epoch[:, 0].tolist()) == list(range(0, 100, 10))  # every block exactly once
    with pytest.raises(ValueError, match="fewer than one block"):
        LMBatches(torch.arange(5), 10, 2)


def test_evaluate_lm_against_a_direct_computation():
    from einformer import GPT, GPTConfig

    model = GPT(GPTConfig.from_preset("tiny", dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0)).eval()
    ids = torch.randint(0, 99, (64,))
    metrics = evaluate_lm(model, ids, 16, chars=128)
    blocks = ids.view(4, 16)
    logp = model(blocks).logits[:, :-1].log_softmax(-1)
    nll = -logp.gather(-1, blocks[:, 1:, None]).mean().item()
    assert metrics["loss"] == pytest.approx(nll, rel=1e-5)
    assert metrics["bits_per_char"] == pytest.approx(nll / math.log(2) * 64 / 128, rel=1e-5)


def test_wrong_kind_of_run(tmp_path, text_file, capsys):
    run = tmp_path / "lm"
    main(["train", "--model", "gpt", "--data", str(text_file), "--run-dir", str(run), "--steps", "2", *FAST])
    capsys.readouterr()
    assert main(["translate", str(run), "x"]) == 2
    assert "use `einformer generate`" in capsys.readouterr().err


def test_generation_beyond_the_context_slides_a_window_when_asked(tmp_path, text_file, capsys):
    run = tmp_path / "lm"
    assert (
        main(["train", "--model", "gpt", "--data", str(text_file), "--run-dir", str(run), "--steps", "5", *FAST]) == 0
    )
    capsys.readouterr()
    argv = ["generate", str(run), "line", "--max-new-tokens", "100", "--min-new-tokens", "100", "--seed", "0"]
    assert main(argv) == 2 and "context of 32" in capsys.readouterr().err  # refused without the opt-in
    assert main([*argv, "--sliding-window"]) == 0
    assert len(capsys.readouterr().out) > 60  # block size 32: several windows


def generate_text_greedy(run, prompt):
    from einformer.inference import generate_text
    from einformer.recipes.language_model import load_lm_run

    return next(generate_text(load_lm_run(run), [prompt], max_new_tokens=8, do_sample=False))
