"""`einformer train --model universal --act --task parity`, `evaluate` and `ponder` end to end; the
parity task's definition; the length flags."""

import json
import random

import pytest

from einformer.cli import main
from einformer.data.algorithmic import nonzero_count, parity_pair
from einformer.data.tasks import get_task


def test_parity_pairs_follow_the_act_paper():
    rng = random.Random(0)
    for _ in range(500):
        source, target = parity_pair(rng, (16, 16))
        assert len(source) == 16 and set(source) <= set("+-0")
        assert 1 <= nonzero_count(source) <= 16
        assert target == str(source.count("+") % 2)
    counts = {nonzero_count(parity_pair(rng, (16, 16))[0]) for _ in range(2000)}
    assert counts == set(range(1, 17))  # every difficulty appears
    train, val, test = get_task("parity").splits(2000, 100, 100, seed=0, train_lengths=(8, 8), test_lengths=(8, 8))
    assert not {s for s, _ in train} & {s for s, _ in val + test}


def test_train_evaluate_and_ponder_a_universal_transformer(tmp_path, capsys):
    run = tmp_path / "ut"
    common = ["--steps", "6", "--batch-size", "16", "--eval-every", "3", "--save-every", "3", "--no-progress"]
    args = ["train", "--model", "universal", "--act", "--task", "parity", "--preset", "tiny", "--ut-steps", "5"]
    args += ["--train-lengths", "8,8", "--test-lengths", "8,8", "--n-train", "300", "--run-dir", str(run), *common]
    assert main(args) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model_type"] == "universal-transformer" and config["act"] and config["max_steps"] == 5
    assert json.loads((run / "run.json").read_text())["test_lengths"] == [8, 8]
    capsys.readouterr()
    assert main(["evaluate", str(run), "--limit", "20", "--json"]) == 0
    assert 0.0 <= json.loads(capsys.readouterr().out)["exact_match"] <= 1.0
    out = tmp_path / "p.png"
    curve = tmp_path / "d.png"
    assert main(["ponder", str(run), "+0-0+00-", "-o", str(out), "--difficulty-plot", str(curve), "--n", "40"]) == 0
    text = capsys.readouterr().out
    assert "N + R" in text and "non-zero entries" in text
    for png in (out, curve):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ponder_needs_act_and_flags_are_checked(tmp_path, capsys):
    run = tmp_path / "fixed"
    args = ["train", "--model", "universal", "--task", "copy", "--preset", "tiny", "--steps", "2", "--no-progress"]
    assert main([*args, "--n-train", "100", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert main(["ponder", str(run), "abc"]) == 2
    assert "--act" in capsys.readouterr().err
    assert main([*args, "--run-dir", str(tmp_path / "x"), "--train-lengths", "5"]) == 2
    assert "MIN,MAX" in capsys.readouterr().err
    assert main(["train", "--task", "copy", "--act", "--run-dir", str(tmp_path / "y")]) == 2
    assert "--model universal" in capsys.readouterr().err


@pytest.mark.slow
def test_universal_transformer_learns_copy(tmp_path, capsys):
    run = tmp_path / "copy"
    args = ["train", "--model", "universal", "--task", "copy", "--preset", "small", "--dropout", "0"]
    args += ["--d-model", "64", "--d-ff", "256", "--norm-first", "--ut-steps", "4", "--lr", "1e-3", "--warmup", "200"]
    args += ["--steps", "600", "--eval-every", "600", "--no-progress", "--run-dir", str(run)]
    assert main([*args, "--n-train", "5000", "--train-lengths", "1,6", "--test-lengths", "1,6"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--limit", "200", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exact_match"] > 0.9
