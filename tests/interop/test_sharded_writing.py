"""Sharded Hugging Face directories from every family's writer, with transformers as the oracle.

For each family a tiny random model that transformers saves in one file is opened by einformer and
written back with ``save_pretrained(format="hf", max_shard_size=...)`` small enough to shard:
model-0000i-of-0000N.safetensors and a model.safetensors.index.json whose weight_map names every
tensor's file, read back by transformers' own loader to the logits of the unsharded save, and by
einformer to its own. Shards group as huggingface_hub's splitter groups them; for GPT-2 (whose
writer keeps transformers' tensor order) the index is the one transformers writes. ``einformer export
--max-shard-size`` passes the size through and names the flag when it cannot read it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from torch.testing import assert_close

from einformer import registry
from einformer.auto import _model_class
from einformer.cli import main
from einformer.interop.hf_files import SHARD_INDEX, plan_shards
from tests.encoder_models import PREFIX
from tests.encoder_models import hf_config as encoder_config
from tests.modernbert_models import TINY as MODERNBERT

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

V = 300  # vocabulary of every tiny model
SIZE = "50KB"  # each model holds 80 to 210 KB of fp32 weights: 3 to 5 shards
FAMILIES = ("gpt2", "bert", "marian", "roberta", "xlm-roberta", "distilbert", "electra", "deberta-v2", "modernbert")


def hf_model(family: str):
    """A tiny random transformers model of ``family`` with an output head (tied where the family ties)."""
    torch.manual_seed(0)
    if family == "gpt2":
        config = transformers.GPT2Config(
            vocab_size=V, n_positions=64, n_embd=32, n_layer=2, n_head=4, bos_token_id=V - 1, eos_token_id=V - 1
        )
        return transformers.GPT2LMHeadModel(config).eval()
    if family == "bert":
        config = transformers.BertConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=37, max_position_embeddings=64)  # fmt: skip
        return transformers.BertForMaskedLM(config).eval()
    if family == "marian":
        config = transformers.MarianConfig(vocab_size=V, decoder_vocab_size=V, d_model=32, encoder_layers=2,
                                           decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                                           encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
                                           pad_token_id=V - 1, decoder_start_token_id=V - 1,
                                           eos_token_id=0)  # fmt: skip
        return transformers.MarianMTModel(config).eval()
    if family == "modernbert":
        ids = dict(pad_token_id=3, cls_token_id=1, sep_token_id=2, bos_token_id=1, eos_token_id=2)
        config = transformers.ModernBertConfig(vocab_size=V, **ids, **MODERNBERT)
        return transformers.ModernBertForMaskedLM(config).eval()
    return getattr(transformers, PREFIX[family] + "ForMaskedLM")(encoder_config(family, V, 1)).eval()


def open_ours(path: Path):
    """einformer's model class for the directory's config (the head its ``architectures`` names)."""
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    family = registry.for_config(config)[0]
    return _model_class(family, None, config).from_pretrained(path).eval()


def logits(model, family: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, V - 1, (2, 9), generator=g)
    with torch.no_grad():
        if family == "marian":
            return model(input_ids=ids, decoder_input_ids=ids[:, :5]).logits
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits


def shard_contents(directory: Path) -> dict[str, str]:
    """Each tensor name in the directory's shard files -> the file holding it."""
    held = {}
    for shard in directory.glob("model-*-of-*.safetensors"):
        with safe_open(shard, "pt") as f:
            held |= {key: shard.name for key in f.keys()}  # noqa: SIM118 (safe_open is no mapping)
    return held


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_writes_shards_that_transformers_and_einformer_read(tmp_path, family):
    theirs = hf_model(family)
    theirs.save_pretrained(tmp_path / "source")  # one model.safetensors
    ours = open_ours(tmp_path / "source")
    ours.save_pretrained(tmp_path / "whole", format="hf")
    ours.save_pretrained(tmp_path / "sharded", format="hf", max_shard_size=SIZE)

    out = tmp_path / "sharded"
    shards = sorted(p.name for p in out.glob("*.safetensors"))
    n = len(shards)
    assert n > 1 and shards == [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]
    index = json.loads((out / SHARD_INDEX).read_text(encoding="utf-8"))
    held = shard_contents(out)
    assert index["weight_map"] == held  # every tensor, each in the file the index names, no other
    with safe_open(tmp_path / "source" / "model.safetensors", "pt") as f:
        assert set(f.keys()) <= set(held)  # every tensor transformers writes (ours adds tied copies)
    sizes = {k: t.numel() * t.element_size() for k, t in _read_all(out).items()}
    assert index["metadata"] == {"total_size": sum(sizes.values()), "total_parameters": theirs.num_parameters()}

    cls = type(theirs)  # the oracle: transformers' own loader, sharded and not
    expected = logits(cls.from_pretrained(tmp_path / "whole").eval(), family)
    assert torch.equal(logits(cls.from_pretrained(out).eval(), family), expected)
    assert_close(expected, logits(theirs, family), atol=1e-5, rtol=1e-5)
    assert torch.equal(logits(open_ours(out), family), logits(ours, family))  # and einformer reads it back


def test_gpt2_shards_are_the_ones_transformers_writes(tmp_path):
    theirs = hf_model("gpt2")
    theirs.save_pretrained(tmp_path / "source")
    theirs.save_pretrained(tmp_path / "theirs", max_shard_size=SIZE)
    open_ours(tmp_path / "source").save_pretrained(tmp_path / "ours", format="hf", max_shard_size=SIZE)
    assert (tmp_path / "ours" / SHARD_INDEX).read_bytes() == (tmp_path / "theirs" / SHARD_INDEX).read_bytes()
    for shard in (tmp_path / "theirs").glob("model-*.safetensors"):
        a, b = _read_all(tmp_path / "theirs", shard.name), _read_all(tmp_path / "ours", shard.name)
        assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a), shard.name


def test_shards_group_as_huggingface_hub_groups_them():
    from huggingface_hub import split_torch_state_dict_into_shards

    g = torch.Generator().manual_seed(0)
    for limit in (64, 100, 400, 4000):
        sizes = torch.randint(1, 120, (40,), generator=g).tolist()
        tensors = {f"t{i}": torch.zeros(n) for i, n in enumerate(sizes)}
        split = split_torch_state_dict_into_shards(tensors, max_shard_size=limit)
        assert plan_shards(tensors, limit) == list(split.filename_to_tensors.values()), limit


def test_export_passes_max_shard_size_and_names_the_flag_when_it_cannot_read_it(tmp_path, capsys):
    source = tmp_path / "bert"
    hf_model("bert").save_pretrained(source)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    (source / "vocab.txt").write_text("\n".join(specials + [f"w{i}" for i in range(V - 5)]) + "\n", encoding="utf-8")

    assert main(["export", str(source), str(tmp_path / "out"), "--max-shard-size", "50KB"]) == 0
    assert re.search(r"\(hf format, [3-9] shards\)", capsys.readouterr().out)
    index = json.loads((tmp_path / "out" / SHARD_INDEX).read_text(encoding="utf-8"))
    assert index["weight_map"] == shard_contents(tmp_path / "out")
    again = transformers.BertForMaskedLM.from_pretrained(tmp_path / "out").eval()
    assert_close(logits(again, "bert"), logits(transformers.BertForMaskedLM.from_pretrained(source).eval(), "bert"))

    for bad in ("50 parsecs", "-3MB", "0"):
        assert main(["export", str(source), str(tmp_path / "bad"), f"--max-shard-size={bad}"]) != 0
        err = capsys.readouterr().err
        assert "--max-shard-size" in err and "500MB" in err, err
        assert not (tmp_path / "bad").exists()  # refused before anything was written
    assert main(["export", str(source), str(tmp_path / "e"), "--format", "einformer", "--max-shard-size", "1MB"]) != 0
    assert "--max-shard-size" in capsys.readouterr().err


def _read_all(directory: Path, name: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors of one shard file, or of all of them, in file order."""
    tensors = {}
    for shard in [directory / name] if name else sorted(directory.glob("model-*-of-*.safetensors")):
        with safe_open(shard, "pt") as f:
            tensors |= {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
    return tensors


def test_a_family_writer_without_the_option_is_refused_by_name(tmp_path):
    from tests.test_registry import TinyConfig, TinyModel, tiny_family

    with registry.registered(tiny_family()):  # its writer takes no max_shard_size
        model = TinyModel(TinyConfig())
        with pytest.raises(ValueError, match="tiny-test family's Hugging Face writer does not shard"):
            model.save_pretrained(tmp_path / "hf", format="hf", max_shard_size="1KB")
        assert not (tmp_path / "hf").exists()
        with pytest.raises(ValueError, match="max_shard_size shards the Hugging Face format only"):
            model.save_pretrained(tmp_path / "own", max_shard_size="1KB")
