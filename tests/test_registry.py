"""The registry of model families is the one source: every built-in record is complete, the loader,
`einformer train --model`, the recipes, export and ``from_pretrained`` read it, and a tiny family
registered here (and nowhere else) is loaded, saved, exported and offered by the CLI."""

import argparse
import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

import einformer
from einformer import PreTrainedModel, load, registry
from einformer.checkpoint import load_weights, save_tensors, write_json
from einformer.cli import build_parser, main
from einformer.config import BaseConfig
from einformer.data.tokenizer import Tokenizer
from einformer.families.common import read_lm_tokenizer, save_lm_tokenizer
from einformer.generation.kinds import CausalLM, MemoryLM, Seq2SeqLM
from einformer.interop.hf_files import read_hf_config
from einformer.recipes import train as train_recipe
from einformer.recipes.export import export
from einformer.recipes.train import CONFIG_FLAGS, TrainSpec
from einformer.registry import BASE, LANGUAGE_MODEL, Family, Tokenizers


# ---------------------------------------------------------------- a tiny family, defined in this file only
@dataclasses.dataclass(frozen=True)
class TinyConfig(BaseConfig):
    model_type: ClassVar[str] = "tiny-test"
    presets: ClassVar[dict[str, dict[str, Any]]] = {"small": {}}
    vocab_size: int = 11
    d_model: int = 4
    n_layers: int = 1


class TinyModel(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config: TinyConfig) -> None:
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.d_model)

    def forward(self, input_ids):
        return self.embed(input_ids)


def load_tiny_hf(cls, directory, **config_changes):
    """The tiny family's "Hugging Face" format: {"model_type": "tiny-hf", "n_vocab", "n_embd"}, "wte"."""
    hf = read_hf_config(directory)
    model = cls(TinyConfig(vocab_size=hf["n_vocab"], d_model=hf["n_embd"], **config_changes))
    model.embed.weight.data.copy_(load_weights(Path(directory) / "model.safetensors")["wte"])
    return model


def save_tiny_hf(model, directory):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_tensors({"wte": model.embed.weight.detach().clone()}, directory / "model.safetensors")
    c = model.config
    write_json(directory / "config.json", {"model_type": "tiny-hf", "n_vocab": c.vocab_size, "n_embd": c.d_model})
    return directory


def tiny_family(**changes) -> Family:
    return Family(
        **{
            "config_class": TinyConfig,
            "models": {BASE: TinyModel},
            "read_tokenizers": lambda directory, huggingface: read_lm_tokenizer(directory),
            "save_tokenizers": save_lm_tokenizer,
            "hf_model_types": ("tiny-hf",),
            "load_hf": load_tiny_hf,
            "save_hf": save_tiny_hf,
            "recipe": LANGUAGE_MODEL,
            "train_name": "tiny",
            "train_flags": {"d_model": ("d_model",), "layers": ("n_layers",)},
            **changes,
        }
    )


@pytest.fixture
def tiny():
    with registry.registered(tiny_family()) as family:
        yield family


@pytest.fixture
def tiny_dir(tiny, tmp_path):
    torch.manual_seed(0)
    model = TinyModel(TinyConfig())
    directory = model.save_pretrained(tmp_path / "tiny")
    Tokenizer.train(["abcdef"], "char").save(directory / "tokenizer.json")
    return directory, model


# ---------------------------------------------------------------- the built-in records
def test_every_built_in_record_is_complete():
    families = registry.families()
    built_in = ["encoder-decoder", "universal-transformer", "gpt", "transformer-xl", "bert"]
    assert [f.name for f in families if f.name in built_in] == built_in  # in the order of their registration
    for family in families:
        assert family.config_class.model_type == family.name
        assert all(cls.config_class is family.config_class for cls in family.models.values())
        assert set(family.models) <= set(registry.TASKS)
        assert callable(family.read_tokenizers) and callable(family.save_tokenizers)
        assert bool(family.hf_model_types) == callable(family.load_hf)
        # every recipe a record names is a job recipes/train.py runs (None: not trained by `einformer train`)
        assert family.recipe is None or family.recipe in train_recipe.RECIPES
        config_fields = {f.name for f in dataclasses.fields(family.config_class)}
        for flag, fields in family.train_flags.items():
            assert flag in CONFIG_FLAGS, (family.name, flag)  # a TrainSpec flag
            assert set(fields) <= config_fields, (family.name, flag, fields)  # that sets the family's own fields
    assert set(train_recipe.RECIPES) == set(registry.RECIPES)


def test_generation_kinds_come_from_the_model_classes():
    causal, memory, seq2seq = (set(registry.names(kind)) for kind in (CausalLM, MemoryLM, Seq2SeqLM))
    assert "gpt" in causal and "transformer-xl" in memory and {"encoder-decoder", "universal-transformer"} <= seq2seq
    assert not causal & memory and not causal & seq2seq and "bert" not in causal | memory | seq2seq
    for name in causal:
        assert issubclass(registry.get(name).default_model, CausalLM)
    assert registry.get("bert").kind is None and registry.get("gpt").kind == "causal"
    assert registry.of(einformer.BertForQuestionAnswering) is registry.get("bert")


def test_a_family_that_clashes_or_is_incomplete_is_refused():
    with pytest.raises(ValueError, match="already registered: name 'gpt'"):
        registry.register(registry.get("gpt"))
    with pytest.raises(ValueError, match="Hugging Face model_type 'gpt2'"):
        registry.register(tiny_family(hf_model_types=("gpt2",)))
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['captioning'\]"):
        tiny_family(models={"captioning": TinyModel})
    with pytest.raises(ValueError, match=r"models\['base'\] \(GPT\) does not read TinyConfig"):
        tiny_family(models={BASE: einformer.GPT})
    with pytest.raises(ValueError, match="hf_model_types and load_hf go together"):
        tiny_family(load_hf=None)
    with pytest.raises(ValueError, match="recipe 'distill' is not one of"):
        tiny_family(recipe="distill")
    assert "tiny-test" not in registry.model_types()


# ---------------------------------------------------------------- its readers
def _train_model_choices() -> tuple[str, ...]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return tuple(next(a for a in commands.choices["train"]._actions if a.dest == "model").choices)


def test_the_cli_choices_and_train_spec_read_the_registry(tiny):
    assert _train_model_choices() == registry.train_names()
    names = registry.train_names()
    assert names[-1] == "tiny" and {"encoder-decoder", "universal", "gpt", "transformer-xl", "bert"} <= set(names)
    spec = TrainSpec("run", model="tiny", data="text.txt", d_model=8, layers=2)
    assert spec.family is tiny and spec.model_overrides() == {"d_model": 8, "n_layers": 2}
    with pytest.raises(ValueError, match=r"--dropout is for --model encoder-decoder or .*gpt.*, not --model tiny"):
        TrainSpec("run", model="tiny", data="text.txt", dropout=0.1)
    with pytest.raises(ValueError, match=r"--model 'nope': choose one of \('encoder-decoder'.*'tiny'\)"):
        TrainSpec("run", model="nope")
    # GPT-2's three dropouts, the encoder-decoder's two stacks: the records' flags
    assert TrainSpec("r", model="gpt", data="t", dropout=0.2).model_overrides() == dict.fromkeys(
        ("dropout", "embedding_dropout", "attention_dropout"), 0.2
    )
    assert TrainSpec("r", model="encoder-decoder", layers=3).model_overrides() == {
        "n_encoder_layers": 3,
        "n_decoder_layers": 3,
    }


def test_the_cli_offers_a_registered_family_and_drops_it_after(capsys):
    with registry.registered(tiny_family()):
        with pytest.raises(SystemExit):
            main(["train", "--help"])
        assert "tiny" in capsys.readouterr().out
    assert "tiny" not in _train_model_choices()


def test_a_registered_family_loads_with_its_tokenizer(tiny_dir):
    directory, model = tiny_dir
    loaded = load(directory)
    assert type(loaded.model) is TinyModel and loaded.family.name == "tiny-test" and loaded.origin == "einformer"
    assert torch.equal(loaded.model.embed.weight, model.embed.weight)
    assert isinstance(loaded.tokenizer, Tokenizer) and loaded.encoder is loaded.model
    assert isinstance(einformer.AutoTokenizer.from_pretrained(directory), Tokenizer)
    assert type(einformer.AutoModel.from_pretrained(directory)) is TinyModel
    registry.unregister("tiny-test")  # the fixture's exit unregisters a second time: harmless
    with pytest.raises(ValueError, match=r"model_type 'tiny-test' is not supported; einformer reads \["):
        load(directory)


def test_from_pretrained_and_export_read_the_family_format(tiny_dir, tmp_path):
    directory, model = tiny_dir
    hf = model.save_pretrained(tmp_path / "hf", format="hf")  # the record's writer, no save_hf method on the model
    assert read_hf_config(hf)["model_type"] == "tiny-hf"
    again = TinyModel.from_pretrained(hf)  # the record's reader, no from_pretrained override
    assert torch.equal(again.embed.weight, model.embed.weight)
    assert load(hf).origin == "huggingface"
    out = export(directory, tmp_path / "out", format="hf")
    assert read_hf_config(out)["model_type"] == "tiny-hf" and (out / "tokenizer.json").is_file()
    loaded = load(out)
    assert loaded.origin == "huggingface" and torch.equal(loaded.model.embed.weight, model.embed.weight)


def test_export_refuses_hf_for_a_family_without_a_writer(tmp_path):
    with registry.registered(tiny_family(hf_model_types=(), load_hf=None, save_hf=None)):
        directory = TinyModel(TinyConfig()).save_pretrained(tmp_path / "tiny")
        with pytest.raises(ValueError, match=r"no Hugging Face format \(einformer writes it for \['encoder-decoder', "):
            export(directory, tmp_path / "out", format="hf")
        assert export(directory, tmp_path / "mine", format="einformer") == tmp_path / "mine"
        with pytest.raises(ValueError, match="has no Hugging Face format; use format='einformer'"):
            TinyModel(TinyConfig()).save_pretrained(tmp_path / "x", format="hf")


def test_auto_tokenizer_reads_each_family_its_own_way(tmp_path):
    from einformer.recipes.bert_pretrain import train_wordpiece

    bert = tmp_path / "bert"
    tokenizer = train_wordpiece(["the old teacher sees the ball"], vocab_size=60)
    einformer.BertModel(einformer.BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size)).save_pretrained(
        bert, format="hf"
    )
    tokenizer.save_pretrained(bert)
    assert einformer.AutoTokenizer.from_pretrained(bert).encode("the old teacher") == tokenizer.encode(
        "the old teacher"
    )
    gpt2 = tmp_path / "gpt2"
    einformer.GPT(einformer.GPTConfig.from_preset("tiny")).save_pretrained(gpt2, format="hf")
    with pytest.raises(ValueError, match="AutoTokenizer: .* GPT-2 directory without its tokenizer"):
        einformer.AutoTokenizer.from_pretrained(gpt2)


def test_tokenizers_round_trip_through_the_records(tmp_path):
    tok = Tokenizer.train(["abc"], "char")
    for name in ("encoder-decoder", "universal-transformer"):
        family, directory = registry.get(name), tmp_path / name
        directory.mkdir()
        family.save_tokenizers(Tokenizers(tok, tok), directory)
        found = family.read_tokenizers(directory, False)
        assert found.tokenizer.encode("cab") == found.source.encode("cab") == tok.encode("cab")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "source_/target_tokenizer.json" in registry.get("encoder-decoder").read_tokenizers(empty, False).problem
    assert "has no tokenizer.json" in registry.get("gpt").read_tokenizers(empty, False).problem
