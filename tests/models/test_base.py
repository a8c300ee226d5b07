"""save_pretrained / from_pretrained: exact round trip, atomic writes, strict key errors."""

import dataclasses
import json
import os

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from einformer import BaseConfig, CheckpointError, PreTrainedModel
from einformer.checkpoint import atomic_write
from einformer.config import check
from einformer.nn import MultiHeadAttention, TokenEmbedding


@dataclasses.dataclass(frozen=True)
class ToyConfig(BaseConfig):
    model_type = "toy"
    presets = {"tiny": {"vocab_size": 99, "d_model": 32, "n_heads": 4}}
    vocab_size: int = 50
    d_model: int = 16
    n_heads: int = 2

    def __post_init__(self):
        check(self.d_model % self.n_heads == 0, "d_model", f"{self.d_model} is not divisible by n_heads={self.n_heads}")


class ToyModel(PreTrainedModel):
    config_class = ToyConfig

    def __init__(self, config):
        super().__init__(config)
        self.embed = TokenEmbedding(config.vocab_size, config.d_model)
        self.attn = MultiHeadAttention(config.d_model, config.n_heads)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied

    def forward(self, ids):
        x = self.embed(ids)
        return self.head(self.attn(x, is_causal=True)[0])


def test_round_trip_is_exact(tmp_path):
    model = ToyModel(ToyConfig.from_preset("tiny"))
    ids = torch.randint(0, 99, (2, 5))
    model.save_pretrained(tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model_type"] == "toy" and config["d_model"] == 32 and "einformer_version" in config
    loaded = ToyModel.from_pretrained(tmp_path / "run")
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert loaded.head.weight.data_ptr() == loaded.embed.weight.data_ptr()  # tying survives
    assert_close(loaded(ids), model.eval()(ids), atol=0, rtol=0)
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())


def test_truncated_weights_give_a_clear_error(tmp_path):
    ToyModel(ToyConfig()).save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated or not safetensors"):
        ToyModel.from_pretrained(tmp_path)


def test_missing_weights_and_config(tmp_path):
    with pytest.raises(CheckpointError, match="is not a directory"):
        ToyModel.from_pretrained(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        ToyModel.from_pretrained(tmp_path)
    ToyModel(ToyConfig()).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no weight file"):
        ToyModel.from_pretrained(tmp_path)


def test_mismatched_checkpoint_lists_missing_unexpected_and_misshaped(tmp_path):
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in ToyModel(ToyConfig()).state_dict().items() if k != "head.weight"}
    del state["attn.q_proj.bias"]
    state["attn.extra"] = torch.zeros(3)
    state["attn.k_proj.weight"] = torch.zeros(16, 15)
    ToyModel(ToyConfig()).save_pretrained(tmp_path)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError) as err:
        ToyModel.from_pretrained(tmp_path)
    text = str(err.value)
    assert "missing keys (1): attn.q_proj.bias" in text
    assert "unexpected keys (1): attn.extra" in text
    assert "attn.k_proj.weight: " in text and "(16, 15) vs model (16, 16)" in text


def test_config_validation_and_unknown_fields(tmp_path):
    with pytest.raises(ValueError, match="d_model: 10 is not divisible by n_heads=3"):
        ToyConfig(d_model=10, n_heads=3)
    with pytest.raises(ValueError, match=r"has no field\(s\) \['depth'\]"):
        ToyConfig.from_dict({"depth": 3})
    with pytest.raises(ValueError, match="model_type 'gpt'"):
        ToyConfig.from_dict({"model_type": "gpt"})
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        ToyConfig.from_preset("huge")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ToyConfig.from_json_file(tmp_path / "config.json")
    assert ToyConfig.from_dict(ToyConfig(d_model=8).to_dict()) == ToyConfig(d_model=8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ToyConfig().d_model = 4  # frozen


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "state.bin"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["state.bin"]  # no temporary left behind


def test_save_over_existing_replaces_atomically(tmp_path):
    a, b = ToyModel(ToyConfig()), ToyModel(ToyConfig())
    a.save_pretrained(tmp_path)
    b.save_pretrained(tmp_path)
    loaded = ToyModel.from_pretrained(tmp_path)
    assert torch.equal(loaded.embed.weight, b.embed.weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
