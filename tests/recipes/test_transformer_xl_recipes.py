"""Transformer-XL training and evaluation: stream batches, the trainer carrying memory across steps
and resetting it per epoch, `einformer train --model transformer-xl`, `evaluate --mem-len`, `generate`."""

import json

import pytest
import torch

from einformer import TransformerXL, TransformerXLConfig
from einformer.cli import main
from einformer.data.text import StreamBatches
from einformer.recipes.language_model import evaluate_stream
from einformer.training import Trainer, TrainingArguments


def test_stream_batches_continue_each_row_and_split_across_ranks():
    ids = torch.arange(103)
    batches = StreamBatches(ids, batch_size=4, segment_length=6)  # 4 streams of 25 tokens
    assert len(batches) == 4 and batches.starts_epoch(0) and batches.starts_epoch(4) and not batches.starts_epoch(1)
    rows = torch.cat([batches.get(i)["input_ids"] for i in range(4)], 1)
    assert rows.tolist() == [list(range(25 * r, 25 * r + 24)) for r in range(4)]  # every token but each last one
    b = batches.get(1)
    assert (b["labels"] == b["input_ids"] + 1).all()
    assert batches.get(3)["input_ids"].shape == (4, 6) and torch.equal(batches.get(4)["input_ids"], rows[:, :6])
    halves = [StreamBatches(ids, 4, 6, rank=r, world_size=2).get(2)["input_ids"] for r in (0, 1)]
    assert torch.equal(torch.cat(halves), batches.get(2)["input_ids"])


def test_trainer_carries_memory_across_steps_and_resets_it_per_epoch(tmp_path):
    torch.manual_seed(0)
    model = TransformerXL(TransformerXLConfig.from_preset("tiny", dropout=0.0, mem_len=8, segment_length=5))
    batches = StreamBatches(torch.randint(0, 99, (84,), generator=torch.Generator().manual_seed(0)), 4, 5)
    trainer = Trainer(model, TrainingArguments(batch_size=4, progress=False), batches, run_dir=tmp_path)
    b = [batches.get(i) for i in range(5)]
    with torch.no_grad():
        first = model(**b[0])
        second = model(**b[1], mems=first.mems)
    assert len(batches) == 4
    assert trainer.backward(model, 0)[0] == pytest.approx(float(first.loss), abs=1e-6)
    assert trainer.backward(model, 1)[0] == pytest.approx(float(second.loss), abs=1e-6)
    trainer.backward(model, 2)
    trainer.backward(model, 3)
    assert trainer.backward(model, 4)[0] == pytest.approx(float(first.loss), abs=1e-6)  # a new epoch: empty memory


def test_evaluate_stream_with_one_stream_scores_every_token_with_full_memory():
    torch.manual_seed(0)
    model = TransformerXL(TransformerXLConfig.from_preset("tiny", dropout=0.0)).double()
    ids = torch.randint(0, 99, (41,), generator=torch.Generator().manual_seed(1))
    metrics = evaluate_stream(model, ids, segment_length=7, mem_len=64, chars=41)
    logp = model(ids[None, :-1], mem_len=64).logits[0]
    expected = -logp.gather(1, ids[1:, None]).mean()
    assert metrics["loss"] == pytest.approx(float(expected.detach()), abs=1e-9)


def test_train_evaluate_and_generate_through_the_cli(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("".join(f"line {i % 7}: the quick brown fox jumps over the lazy dog\n" for i in range(150)))
    run = tmp_path / "xl"
    args = ["train", "--model", "transformer-xl", "--data", text, "--preset", "tiny", "--seg-len", "16"]
    args += ["--mem-len", "16", "--steps", "12", "--batch-size", "4", "--eval-every", "6", "--no-progress"]
    assert main([*map(str, args), "--run-dir", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model_type"] == "transformer-xl" and config["mem_len"] == 16
    capsys.readouterr()
    assert main(["evaluate", str(run), "--mem-len", "48", "--seg-len", "32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bits_per_char"] > 0
    assert main(["generate", str(run), "--prompt", "line", "--max-new-tokens", "20", "--seed", "0"]) == 0
    assert capsys.readouterr().out.startswith("line")
    assert (
        main(["train", "--model", "gpt", "--data", str(text), "--mem-len", "8", "--run-dir", str(tmp_path / "g")]) == 2
    )
    assert "transformer-xl" in capsys.readouterr().err
