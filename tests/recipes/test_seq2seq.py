"""The seq2seq job through the CLI: user data, translate, evaluate, resume, and clear errors."""

import json
import subprocess
import sys

import pytest

from einformer.cli import main
from einformer.recipes.seq2seq import load_run

FAST = [
    "--preset",
    "tiny",
    "--steps",
    "30",
    "--batch-size",
    "16",
    "--eval-every",
    "15",
    "--save-every",
    "15",
    "--warmup",
    "5",
    "--no-progress",
]


@pytest.fixture
def pairs_file(tmp_path):
    lines = [f"{w}\t{w[::-1]}" for w in (f"w{i}x{j}" for i in range(20) for j in range(5))]
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_train_translate_evaluate_on_user_tsv(tmp_path, pairs_file, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", str(pairs_file), "--tokenizer", "char", "--run-dir", str(run), *FAST]) == 0
    assert "trained to step 30" in capsys.readouterr().out
    for name in (
        "config.json",
        "model.safetensors",
        "source_tokenizer.json",
        "target_tokenizer.json",
        "run.json",
        "metrics.jsonl",
        "loss_curve.png",
        "last/training_state.pt",
    ):
        assert (run / name).exists(), name
    info = json.loads((run / "run.json").read_text())
    assert info["metric"] == "loss" and info["source_level"] == "char"
    assert main(["translate", str(run), "w3x1", "w7x2", "--num-beams", "2"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2
    from einformer import pipeline  # the translation pipeline: the same beams, transformers' shape

    translated = pipeline("translation", run)(["w3x1", "w7x2"], num_beams=2)
    assert [r[0]["translation_text"] for r in translated] == printed
    assert (
        pipeline("text2text-generation", run)("w3x1", num_beams=2)[0]["generated_text"]
        == translated[0][0]["translation_text"]
    )
    assert main(["evaluate", str(run), "--data", str(pairs_file), "--limit", "20", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) == {"exact_match", "loss", "bleu"}


def test_shared_vocabulary(tmp_path, pairs_file):
    run = tmp_path / "run"
    assert (
        main(["train", "--data", str(pairs_file), "--tokenizer", "char", "--share-vocab", "--run-dir", str(run), *FAST])
        == 0
    )
    loaded = load_run(run)
    assert loaded.model.config.share_embeddings
    assert loaded.model.src_embed.weight is loaded.model.tgt_embed.weight is loaded.model.lm_head.weight
    assert (run / "source_tokenizer.json").read_text() == (run / "target_tokenizer.json").read_text()


def test_resume_through_the_cli(tmp_path, pairs_file, capsys):
    """Stop at step 15, then --resume to step 30 (inverse-sqrt schedule: independent of the total)."""
    run = tmp_path / "run"
    common = [
        "train",
        "--data",
        str(pairs_file),
        "--tokenizer",
        "char",
        "--run-dir",
        str(run),
        "--preset",
        "tiny",
        "--batch-size",
        "16",
        "--eval-every",
        "15",
        "--save-every",
        "15",
        "--warmup",
        "5",
        "--no-progress",
    ]
    assert main([*common, "--steps", "15"]) == 0
    assert main([*common, "--steps", "30", "--resume"]) == 0
    assert "trained to step 30" in capsys.readouterr().out
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 30
    assert load_run(run).model.config.n_encoder_layers == 2


@pytest.mark.parametrize(
    "content,message",
    [
        ("good\tline\nbad line\n", "pairs.tsv:2: expected 'source<TAB>target', found no tab"),
        ("", "the file is empty"),
        (b"\xff\tx\n", "pairs.tsv:1: not valid UTF-8"),
    ],
)
def test_bad_data_is_one_clear_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "pairs.tsv"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "einformer",
            "train",
            "--data",
            str(path),
            "--run-dir",
            str(tmp_path / "r"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 2


def test_over_long_examples(tmp_path, pairs_file):
    long_file = tmp_path / "long.tsv"
    long_file.write_text(pairs_file.read_text() + "a" * 40 + "\tb\n")
    base = ["train", "--data", str(long_file), "--tokenizer", "char", "--run-dir", str(tmp_path / "r"), *FAST]
    with pytest.raises(SystemExit):  # argparse: --on-long takes only truncate or error
        main([*base, "--on-long", "drop"])
    from einformer.recipes import seq2seq

    with pytest.warns(UserWarning, match="1 of .* examples were longer"):
        seq2seq.encode_pairs([("a" * 40, "b"), ("a", "b")], *_char_tokenizers(), max_source=30, max_target=30)
    with pytest.raises(ValueError, match="example 1 is too long"):
        seq2seq.encode_pairs([("a" * 40, "b")], *_char_tokenizers(), max_source=30, max_target=30, on_long="error")


def _char_tokenizers():
    from einformer.data.tokenizer import Tokenizer

    tok = Tokenizer.train(["ab"], "char")
    return tok, tok


def test_translate_and_evaluate_need_a_run(tmp_path, capsys):
    assert main(["translate", str(tmp_path), "x"]) == 2
    assert "is not an einformer seq2seq run" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_end_to_end_reduced(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "einformer",
            "demo",
            "--quick",
            "--steps",
            "120",
            "--run-dir",
            str(tmp_path / "demo"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    text = out.stdout
    assert "held-out exact match:" in text and "translations of held-out examples" in text
    assert "einformer translate" in text  # the next commands
    for name in ("cross_attention.png", "loss_curve.png", "model.safetensors", "run.json"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
