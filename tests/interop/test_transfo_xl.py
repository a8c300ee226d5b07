"""Hugging Face TransfoXLLMHeadModel directories -> einformer's Transformer-XL, and the restricted
reader of its pickled vocabulary.

The oracle: tests/fixtures/transfo_xl, written by transformers 4.57.6 (the last version with
Transformer-XL; make_transfo_xl_fixtures.py): its directories and its per-token losses over three
segments read with memory.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import shutil
from collections import Counter, OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from einformer import load
from einformer.checkpoint import CheckpointError
from einformer.cli import main
from einformer.config import TransformerXLConfig
from einformer.data.word_vocab import WordVocab
from einformer.interop.plain_pickle import UnsafePickle, read_plain_pickle
from einformer.models.transformer_xl import TransformerXL
from einformer.nn.adaptive import TransposedLinear

FIXTURES = Path(__file__).parents[1] / "fixtures" / "transfo_xl"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
NAMES = ("post_norm_adaptive", "pre_norm", "div_val_2")


def segment_nll(model: TransformerXL, stream: torch.Tensor, segment: int) -> list[torch.Tensor]:
    """Per-token NLL of each segment (the last may be shorter), read one after another with memory."""
    out, mems = [], None
    for s in range(-(-(stream.shape[1] - 1) // segment)):
        ids = stream[:, s * segment : (s + 1) * segment]
        labels = stream[:, s * segment + 1 : (s + 1) * segment + 1]
        with torch.no_grad():
            logits = model(ids, mems=mems).logits
            result = model(ids, mems=mems, labels=labels)
        mems = result.mems
        nll = -logits.gather(-1, labels[..., None])[..., 0]
        assert torch.allclose(result.loss, nll.mean(), atol=1e-6)  # the loss path agrees with the log-probs
        out.append(nll)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_per_token_losses_equal_transformers_segment_by_segment(name):
    model = TransformerXL.from_pretrained(FIXTURES / name)
    expected = EXPECTED[name]
    got = segment_nll(model, torch.tensor(expected["stream"]), expected["segment_length"])
    for s, (ours, theirs) in enumerate(zip(got, expected["nll"], strict=True)):
        assert (ours - torch.tensor(theirs)).abs().max() < 1e-5, f"segment {s}"


def test_the_reference_options_are_what_the_checkpoints_need():
    pre = TransformerXL.from_pretrained(FIXTURES / "pre_norm")
    assert pre.config.norm_first and pre.config.final_norm is False and isinstance(pre.final_norm, nn.Identity)
    assert not pre.config.untie_r and pre.config.same_length
    div = TransformerXL.from_pretrained(FIXTURES / "div_val_2")
    c = div.config
    assert c.always_project and c.embed_dim == c.d_model and c.tie_projs == (False, True, True)
    assert all(isinstance(p, nn.Linear) for p in div.embed.projections)  # cluster 0 is as wide as the model
    assert isinstance(div.softmax.projections[0], nn.Linear)  # not tied: its own matrix
    for i in (1, 2):  # tied: the embedding's matrix itself, not a copy
        assert isinstance(div.softmax.projections[i], TransposedLinear)
        assert div.softmax.projections[i].linear.weight is div.embed.projections[i].weight
    # the defaults are unchanged: pre-norm closes with a LayerNorm, equal-width clusters get none
    ours = TransformerXL(TransformerXLConfig.from_preset("tiny", norm_first=True, cutoffs=(30, 60), div_val=2))
    assert isinstance(ours.final_norm, nn.LayerNorm) and isinstance(ours.embed.projections[0], nn.Identity)


def _hf_state(model: TransformerXL) -> dict[str, torch.Tensor]:
    """Our weights under the published TransfoXLLMHeadModel names (div_val > 1, untie_r)."""
    s, c = model.state_dict(), model.config
    out = {}
    for i in range(c.n_layers):
        h, b = f"transformer.layers.{i}.", f"layers.{i}."
        pairs = {
            "dec_attn.qkv_net.weight": "attn.qkv.weight",
            "dec_attn.r_net.weight": "attn.r_net.weight",
            "dec_attn.o_net.weight": "attn.out.weight",
            "dec_attn.layer_norm.weight": "attn_norm.weight",
            "dec_attn.layer_norm.bias": "attn_norm.bias",
            "dec_attn.r_w_bias": "biases.u",
            "dec_attn.r_r_bias": "biases.v",
            "pos_ff.CoreNet.0.weight": "ffn.fc1.weight",
            "pos_ff.CoreNet.0.bias": "ffn.fc1.bias",
            "pos_ff.CoreNet.3.weight": "ffn.fc2.weight",
            "pos_ff.CoreNet.3.bias": "ffn.fc2.bias",
            "pos_ff.layer_norm.weight": "ffn_norm.weight",
            "pos_ff.layer_norm.bias": "ffn_norm.bias",
        }
        out |= {h + k: s[b + v] for k, v in pairs.items()}
    for i in range(len(c.cutoffs) + 1):
        out[f"transformer.word_emb.emb_layers.{i}.weight"] = s[f"embed.embeddings.{i}.weight"]
        out[f"transformer.word_emb.emb_projs.{i}"] = s[f"embed.projections.{i}.weight"]
        out[f"crit.out_layers.{i}.weight"] = s[f"embed.embeddings.{i}.weight"]
        out[f"crit.out_layers.{i}.bias"] = s[f"softmax.outputs.{i}.bias"]
        tied = c.tie_projs[i]
        out[f"crit.out_projs.{i}"] = (
            s[f"embed.projections.{i}.weight"] if tied else s[f"softmax.projections.{i}.weight"].t()
        )
    out["crit.cluster_weight"], out["crit.cluster_bias"] = s["softmax.clusters.weight"], s["softmax.clusters.bias"]
    out["transformer.pos_emb.inv_freq"] = 1 / (10000 ** (torch.arange(0.0, c.d_model, 2.0) / c.d_model))
    return out


def test_a_directory_built_from_published_key_names_loads(tmp_path):
    """Keys and shapes as transformers v4's TransfoXLLMHeadModel names them, in a torch-saved
    pytorch_model.bin (read with weights_only=True); our reference-configured model is the oracle."""
    config = TransformerXLConfig.from_preset(
        "tiny", vocab_size=70, cutoffs=(20, 40), div_val=2, always_project=True, tie_projs=(False, True, True),
        untie_r=True, norm_first=True, final_norm=False, mem_len=5, same_length=True, clamp_len=6, dropout=0.0,
    )  # fmt: skip
    model = TransformerXL(config).eval()
    hf_config = {
        "model_type": "transfo-xl", "vocab_size": 70, "d_model": 32, "d_embed": 32, "n_layer": 2, "n_head": 4,
        "d_head": 8, "d_inner": 64, "div_val": 2, "cutoffs": [20, 40], "tie_projs": [False, True, True],
        "pre_lnorm": True, "same_length": True, "clamp_len": 6, "mem_len": 5, "untie_r": True, "attn_type": 0,
        "adaptive": True, "sample_softmax": -1, "dropout": 0.0, "dropatt": 0.0,
    }  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(hf_config))
    torch.save({k: v.clone() for k, v in _hf_state(model).items()}, tmp_path / "pytorch_model.bin")
    loaded = TransformerXL.from_pretrained(tmp_path)
    stream = torch.randint(0, 70, (2, 19))
    for ours, theirs in zip(segment_nll(loaded, stream, 6), segment_nll(model, stream, 6), strict=True):
        assert torch.equal(ours, theirs)


def _edit(name: str, tmp_path: Path, **changes) -> Path:
    copy = tmp_path / name
    shutil.copytree(FIXTURES / name, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, **changes}))
    return copy


def test_other_attention_types_and_sampled_softmax_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match=r"attn_type=1 is not supported \(only the paper's relative attention"):
        TransformerXL.from_pretrained(_edit("div_val_2", tmp_path, attn_type=1))
    with pytest.raises(CheckpointError, match="sample_softmax=64"):
        TransformerXL.from_pretrained(_edit("pre_norm", tmp_path, sample_softmax=64))


def test_a_tied_copy_that_differs_is_refused(tmp_path):
    copy = _edit("pre_norm", tmp_path)
    state = torch.load(copy / "pytorch_model.bin", weights_only=True)
    state["transformer.layers.1.dec_attn.r_w_bias"] = state["transformer.layers.1.dec_attn.r_w_bias"] + 1
    torch.save(state, copy / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="r_w_bias differs from transformer.r_w_bias"):
        TransformerXL.from_pretrained(copy)


# -- the vocabulary: vocab.pkl read without unpickling ------------------------------------------------
WORDS = ["<eos>", "the", "of", ",", "<unk>", "Transformer", "memory", "."]


def _reference_vocab() -> dict:
    """What the authors' Vocab.__dict__ holds (the published vocab.pkl is a torch.save of it)."""
    return {
        "counter": Counter({w: 10 - i for i, w in enumerate(WORDS)}),
        "special": ["<eos>"],
        "min_freq": 0,
        "max_size": None,
        "lower_case": False,
        "delimiter": None,
        "vocab_file": None,
        "idx2sym": list(WORDS),
        "sym2idx": OrderedDict((w, i) for i, w in enumerate(WORDS)),
        "unk_idx": 4,
    }


@pytest.mark.parametrize("how", ["torch-legacy", "torch-zip", *(f"pickle-{p}" for p in range(6))])
def test_the_vocabulary_reader_builds_plain_data(tmp_path, how):
    path, vocab = tmp_path / "vocab.pkl", _reference_vocab()
    if how.startswith("torch"):
        torch.save(vocab, path, _use_new_zipfile_serialization=how == "torch-zip")
    else:
        path.write_bytes(pickle.dumps(vocab, protocol=int(how[-1])))
    data = read_plain_pickle(path)
    assert data == {**vocab, "counter": dict(vocab["counter"]), "sym2idx": dict(vocab["sym2idx"])}
    words = WordVocab.from_pretrained(tmp_path)
    assert words.encode("the memory of Transformer , unseen .\nthe", add_eos=True) == [1, 6, 2, 5, 3, 4, 7, 0, 1, 0]


class _RunsCode:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


class _Instance:
    def __init__(self) -> None:
        self.x = 1


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, protocol):
    target = tmp_path / "created-by-the-pickle"
    payload = {"idx2sym": ["a"], "trap": _RunsCode(target)}
    (tmp_path / "vocab.pkl").write_bytes(pickle.dumps(payload, protocol=protocol))
    assert "system" in "".join(str(arg) for _, arg, _ in pickletools.genops(io.BytesIO(pickle.dumps(payload))))
    with pytest.raises(UnsafePickle, match=r"imports (posix|os|nt)\.system .* nothing in it ran"):
        WordVocab.from_pretrained(tmp_path)
    assert not target.exists()
    (tmp_path / "vocab.pkl").write_bytes(pickle.dumps({"idx2sym": [_Instance()]}, protocol=protocol))
    with pytest.raises(UnsafePickle, match=r"imports .*(_Instance|_reconstructor).* nothing in it ran"):
        read_plain_pickle(tmp_path / "vocab.pkl")
    pickle.loads(pickle.dumps(payload, protocol=protocol))  # the control: unpickling it does run the command
    assert target.exists()


def test_a_text_vocabulary_is_preferred_and_evaluate_reads_the_checkpoint(tmp_path, capsys):
    copy = tmp_path / "txl"
    shutil.copytree(FIXTURES / "post_norm_adaptive", copy)
    words = [f"w{i}" for i in range(60)]
    words[0], words[1] = "<eos>", "<unk>"
    torch.save({"idx2sym": words, "sym2idx": {w: i for i, w in enumerate(words)}}, copy / "vocab.pkl")
    loaded = load(copy)
    assert loaded.origin == "huggingface" and loaded.tokenizer.vocab_size == 60
    loaded.tokenizer.save_text(copy / "vocab.txt")
    (copy / "vocab.pkl").write_bytes(b"not read when vocab.txt is there")
    assert load(copy).tokenizer.words == words
    text = tmp_path / "text.txt"
    text.write_text("w5 w7 w9 w11 w2 w3\nw40 w41 w59 unseen w8\n" * 6)
    assert main(["evaluate", str(copy), "--data", str(text), "--seg-len", "8", "--mem-len", "8", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    ids = torch.tensor(loaded.tokenizer.encode(text.read_text(), add_eos=True))
    model = TransformerXL.from_pretrained(copy)
    nll = torch.cat([x.flatten() for x in segment_nll(model, ids[None], 8)])
    assert metrics["loss"] == pytest.approx(float(nll.mean()), rel=1e-5)
