"""Validation at the edges (issue #32, groups 8 and 9): each bad value is refused where it enters,
by einformer's error naming the field, flag, file or input, instead of becoming garbage or a raw
TypeError / IndexError later."""

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from einformer import GPT, BertConfig, BertModel, GPTConfig, load
from einformer.checkpoint import CheckpointError
from einformer.cli import main
from einformer.errors import ConfigError, EinformerError
from einformer.generation.config import GenerationConfig
from einformer.training import TrainingArguments

from .helpers import LM, text_file


@pytest.fixture(scope="module")
def gpt_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("gpt")
    torch.manual_seed(0)
    GPT(GPTConfig.from_preset("tiny", vocab_size=40, max_position=32)).save_pretrained(directory)
    return directory


def _edited_copy(source: Path, target: Path, **config_changes) -> Path:
    target.mkdir()
    for name in os.listdir(source):
        (target / name).write_bytes((source / name).read_bytes())
    if config_changes:
        config = json.loads((target / "config.json").read_text())
        (target / "config.json").write_text(json.dumps({**config, **config_changes}))
    return target


@pytest.mark.parametrize("value", [math.nan, -1.0, math.inf])
def test_layer_norm_eps_nan_or_negative_is_refused(gpt_dir, tmp_path, value):
    """Before: accepted, and every output was NaN."""
    with pytest.raises(ConfigError, match="layer_norm_eps: must be"):
        GPTConfig.from_preset("tiny", vocab_size=40, layer_norm_eps=value)
    directory = _edited_copy(gpt_dir, tmp_path / "m", layer_norm_eps=value)
    with pytest.raises(ValueError, match="layer_norm_eps"):
        load(directory)


@pytest.mark.parametrize("damage", ["all-nan", "one-inf", "int64"])
def test_damaged_weights_are_refused_on_load_with_a_named_opt_out(gpt_dir, tmp_path, damage, monkeypatch):
    """Before: all-NaN weights and float weights stored as int64 were accepted; the output was garbage."""
    directory = _edited_copy(gpt_dir, tmp_path / "m")
    tensors = load_file(directory / "model.safetensors")
    key = next(k for k, v in tensors.items() if v.dim() == 2 and "wte" not in k and "embed" not in k)
    if damage == "all-nan":
        tensors = {k: torch.full_like(v, math.nan) if v.is_floating_point() else v for k, v in tensors.items()}
    elif damage == "one-inf":
        tensors[key] = tensors[key].clone()
        tensors[key][0, 0] = math.inf
    else:
        tensors[key] = (tensors[key] * 100).to(torch.int64)
    save_file(tensors, directory / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError) as caught:
        load(directory)
    message = str(caught.value)
    assert key in message and "EINFORMER_SKIP_WEIGHT_CHECK=1" in message
    assert ("stored as integers" if damage == "int64" else "NaN or infinite") in message
    monkeypatch.setenv("EINFORMER_SKIP_WEIGHT_CHECK", "1")
    assert load(directory).model is not None  # the opt-out: loaded as before, unchecked


@pytest.mark.parametrize(
    "flags, phrase",
    [
        ({"learning_rate": math.inf}, "--lr must be a finite number"),
        ({"learning_rate": 1e308}, "--lr must be a finite number > 0 that float32 holds"),
        ({"learning_rate": math.nan}, "learning_rate: must be > 0, got nan"),
        ({"weight_decay": math.inf}, "--weight-decay must be a finite number >= 0"),
        ({"weight_decay": -5.0}, "--weight-decay must be a finite number >= 0"),
        ({"warmup_steps": -10}, "--warmup must be >= 0"),
        ({"seed": 2**70}, "--seed must be an integer in [0, 2**32)"),
    ],
)
def test_training_numbers_are_checked_where_they_enter(flags, phrase):
    """Before: accepted; inf failed at step 2 as "loss became nan ... lower --lr", 2**70 overflowed."""
    with pytest.raises(ConfigError) as caught:
        TrainingArguments(**flags)
    assert phrase in str(caught.value)


def test_the_cli_refuses_a_bad_number_before_training(tmp_path, capsys):
    data = text_file(tmp_path)
    code = main(["train", *LM, "--data", str(data), "--run-dir", str(tmp_path / "run"), "--lr", "inf"])
    assert code == 2 and "--lr must be a finite number" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_nan_regression_label_is_a_data_error_naming_file_and_line(tmp_path):
    """Before: the run diverged and the message blamed --lr."""
    from einformer.data.finetune import read_records
    from einformer.data.pairs import DataError

    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "a", "label": 0.5}\n{"text": "b", "label": NaN}\n{"text": "c", "label": Infinity}\n')
    with pytest.raises(DataError, match=r"train.jsonl:2: a regress label must be a number, got nan"):
        read_records(path, "regress")
    path.write_text('{"text": "a", "label": 0.5}\n{"text": "c", "label": Infinity}\n')
    with pytest.raises(DataError, match=r"train.jsonl:2: a regress label must be a finite number"):
        read_records(path, "regress")


@pytest.mark.parametrize(
    "options, phrase",
    [
        ({"temperature": "hot", "do_sample": True}, "temperature='hot' must be float (str given)"),
        ({"num_beams": 1e9}, "num_beams=1000000000.0 must be int (float given)"),
        ({"num_beams": "4"}, "num_beams='4' must be int (str given)"),
    ],
)
def test_generation_config_values_of_the_wrong_type_name_file_and_field(gpt_dir, tmp_path, options, phrase):
    """Before: a raw TypeError (or an allocation for 1e9 beams)."""
    directory = _edited_copy(gpt_dir, tmp_path / "m")
    (directory / "generation_config.json").write_text(json.dumps(options))
    with pytest.raises(ValueError) as caught:
        GenerationConfig.from_pretrained(directory)
    assert str(directory / "generation_config.json") in str(caught.value) and phrase in str(caught.value)


def test_out_of_vocabulary_bad_words_ids_are_named(gpt_dir):
    """Before: an IndexError in the middle of decoding."""
    model = load(gpt_dir).model
    prompt = torch.tensor([[1, 2, 3]])
    with pytest.raises(ValueError, match=r"bad_words_ids names token id\(s\) \[40\] outside the model's vocabulary"):
        model.generate(prompt, max_new_tokens=3, bad_words_ids=[[5], [40]])
    with pytest.raises(ValueError, match="suppress_tokens"):
        model.generate(prompt, max_new_tokens=3, suppress_tokens=[-1])
    assert model.generate(prompt, max_new_tokens=3, bad_words_ids=[[5], [39]]).shape == (1, 6)


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    from einformer.recipes.bert_pretrain import train_wordpiece

    root = tmp_path_factory.mktemp("bert")
    tokenizer = train_wordpiece([f"the old teacher sees the ball number {i} ." for i in range(50)], vocab_size=120)
    BertModel(BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size)).save_pretrained(root, format="hf")
    tokenizer.save_pretrained(root)
    return root


@pytest.mark.parametrize("bad", [None, 5, 2.5])
def test_a_pipeline_given_none_or_a_number_names_it(bert_dir, bad):
    """Before: TypeError: 'NoneType' object is not iterable (pipelines/base.py:112)."""
    from einformer import pipeline

    extract = pipeline("feature-extraction", model=bert_dir)
    with pytest.raises(ValueError, match=f"a pipeline takes a text, a dict or a list of them; got {bad!r}"):
        extract(bad)
    assert len(extract(["the old teacher"])) == 1


def test_the_printed_resume_command_quotes_paths_with_spaces(tmp_path):
    """Before: the command was joined with spaces; pasting it split "my runs/r 1" in two."""
    from einformer.cli import _resume_hint

    run = tmp_path / "my runs" / "r 1"
    run.mkdir(parents=True)
    (run / "checkpoint-2").mkdir()
    os.symlink("checkpoint-2", run / "last")
    argv = ["train", "--data", str(tmp_path / "my data.txt"), "--run-dir", str(run), "--steps", "4"]
    hint = _resume_hint(argparse.Namespace(command="train", run_dir=str(run), argv=argv))
    command = hint.split("continue with: ", 1)[1]
    assert shlex.split(command) == ["einformer", *argv, "--resume"]


def test_the_step_view_tests_skip_without_selenium(tmp_path):
    """Before: tests/explain/test_step_view.py imported selenium at module level, so without it the
    whole collection failed instead of those tests skipping."""
    (tmp_path / "selenium").mkdir()
    (tmp_path / "selenium" / "__init__.py").write_text("raise ImportError('selenium is not installed')\n")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "--collect-only",
            "-p",
            "no:cacheprovider",
            "tests/explain/test_step_view.py",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
        timeout=120,
    )
    summary = out.stdout.strip().splitlines()[-1]
    assert out.returncode == 0 and "tests collected" in summary and "error" not in summary, out.stdout[-2000:]


def test_every_error_here_is_einformer_s():
    assert issubclass(ConfigError, EinformerError) and issubclass(CheckpointError, EinformerError)


def test_large_finite_weights_are_not_taken_for_infinite_ones():
    """The fast check sums a tensor; finite values whose sum overflows fp32 must still pass."""
    from einformer.validation import weight_problems

    weight = torch.nn.Parameter(torch.zeros(4))
    huge = torch.full((4,), 3e38)  # finite, sum 1.2e39 > fp32's largest
    assert weight_problems({"w": weight}, {"w": huge}) == []
    assert weight_problems({"w": weight}, {"w": torch.tensor([1.0, float("inf"), 0.0, 0.0])}) != []
