"""Hugging Face TransfoXLLMHeadModel directories (the published wt103 checkpoint) -> einformer's
Transformer-XL, through a strict key map.

transformers v5 removed Transformer-XL, so these checkpoints have no maintained reader. Its layout
(``transformer.*`` and ``crit.*``) follows the authors' code, which differs from einformer's
defaults in three places that are named options here: no LayerNorm closing a pre-norm stack
(``final_norm=False``), a projection for every adaptive cluster when div_val > 1
(``always_project``), and ``tie_projs`` as one flag per cluster. With div_val 1 the reference keeps
one embedding table and one projection for the whole vocabulary; einformer's clusters get the rows
of their words and a copy of that projection each (the same function).

The memory starts empty, as in the authors' code (transformers' port started from mem_len zeros).
Weights are read from model.safetensors, or pytorch_model.bin with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ..checkpoint import CheckpointError, load_state_strict
from ..config import TransformerXLConfig
from ..nn.adaptive import cluster_bounds
from .hf_files import check_fit, first_id, read_hf_config, read_hf_weights

# options that change the computation, with the only value einformer implements
UNSUPPORTED = {"attn_type": 0, "adaptive": True, "sample_softmax": -1}


def config_from_hf(hf: dict, source: str = "config.json") -> TransformerXLConfig:
    """TransformerXLConfig from a TransfoXLConfig dict; options we can't express raise naming the field."""
    for field, supported in UNSUPPORTED.items():
        if hf.get(field, supported) != supported:
            what = " (only the paper's relative attention, attn_type 0, is implemented)" if field == "attn_type" else ""
            raise CheckpointError(
                f"{source}: Transformer-XL option {field}={hf[field]} is not supported{what}; einformer reads only "
                f"{field}={supported}, and refuses to load a silently different model"
            )
    cutoffs = tuple(hf.get("cutoffs", [20000, 40000, 200000]))
    div_val = hf.get("div_val", 4)
    ties = hf.get("tie_projs", [False] + [True] * len(cutoffs))
    clamp = hf.get("clamp_len", 1000)
    return TransformerXLConfig(
        vocab_size=hf.get("vocab_size", 267735),
        d_model=hf.get("d_model", 1024),
        d_embed=hf.get("d_embed", 1024),
        n_layers=hf.get("n_layer", 18),
        n_heads=hf.get("n_head", 16),
        d_head=hf.get("d_head", 64),
        d_ff=hf.get("d_inner", 4096),
        dropout=hf.get("dropout", 0.1),
        attention_dropout=hf.get("dropatt", 0.0),
        mem_len=hf.get("mem_len", 1600),
        segment_length=hf.get("tgt_len") or 128,
        clamp_len=clamp if clamp and clamp > 0 else None,
        same_length=hf.get("same_length", True),
        untie_r=hf.get("untie_r", True),
        norm_first=hf.get("pre_lnorm", False),
        final_norm=False,
        cutoffs=cutoffs,
        div_val=div_val,
        tie_word_embeddings=hf.get("tie_word_embeddings", True),
        tie_projs=tuple(bool(t) for t in ties),
        always_project=div_val > 1,
        layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
        init_std=hf.get("init_std", 0.02),
        eos_token_id=first_id(hf.get("eos_token_id")),
    )


def _layer_keys(c: TransformerXLConfig) -> list[tuple[str, str]]:
    rows = []
    names = {
        "dec_attn.qkv_net.weight": "attn.qkv.weight",
        "dec_attn.r_net.weight": "attn.r_net.weight",
        "dec_attn.o_net.weight": "attn.out.weight",
        "dec_attn.layer_norm.weight": "attn_norm.weight",
        "dec_attn.layer_norm.bias": "attn_norm.bias",
        "pos_ff.CoreNet.0.weight": "ffn.fc1.weight",
        "pos_ff.CoreNet.0.bias": "ffn.fc1.bias",
        "pos_ff.CoreNet.3.weight": "ffn.fc2.weight",
        "pos_ff.CoreNet.3.bias": "ffn.fc2.bias",
        "pos_ff.layer_norm.weight": "ffn_norm.weight",
        "pos_ff.layer_norm.bias": "ffn_norm.bias",
    }
    for i in range(c.n_layers):
        rows += [(f"transformer.layers.{i}.{hf}", f"layers.{i}.{ours}") for hf, ours in names.items()]
        if c.untie_r:
            rows += [
                (f"transformer.layers.{i}.dec_attn.r_w_bias", f"layers.{i}.biases.u"),
                (f"transformer.layers.{i}.dec_attn.r_r_bias", f"layers.{i}.biases.v"),
            ]
    if not c.untie_r:
        rows += [("transformer.r_w_bias", "u"), ("transformer.r_r_bias", "v")]
    return rows


def state_from_hf(hf: dict[str, Tensor], c: TransformerXLConfig, source: str) -> dict[str, Tensor]:
    """Translate TransfoXLLMHeadModel weights to einformer names; unknown keys are an error, and a
    key that must repeat another (a tied matrix, the shared u and v) must equal it."""
    ours, used, problems = {}, set(), []
    for hf_key, our_key in _layer_keys(c):
        if hf_key in hf:
            ours[our_key] = hf[hf_key].clone()
            used.add(hf_key)
    if not c.untie_r:  # the reference's modules each hold the shared tensors too
        for i in range(c.n_layers):
            for name, ref in (("r_w_bias", "transformer.r_w_bias"), ("r_r_bias", "transformer.r_r_bias")):
                _same(hf, f"transformer.layers.{i}.dec_attn.{name}", ref, used, problems)
    _adaptive(hf, c, ours, used, problems)
    _positions(hf, c, used, problems)
    check_fit("Transformer-XL", source, hf, used, problems)
    return ours


def _same(hf: dict, key: str, ref: str, used: set, problems: list) -> None:
    """``key``, when present, is a stored copy of ``ref``."""
    if key in hf:
        used.add(key)
        if ref in hf and not torch.equal(hf[key], hf[ref]):
            problems.append(f"{key} differs from {ref}, which the config says it is tied to")


def _adaptive(hf: dict, c: TransformerXLConfig, ours: dict, used: set, problems: list) -> None:
    """The adaptive embedding and softmax: per-cluster tables, projections and the cluster head."""
    bounds = cluster_bounds(c.vocab_size, c.cutoffs)
    ties = [c.tie_projs] * len(bounds) if isinstance(c.tie_projs, bool) else list(c.tie_projs)
    emb, crit = "transformer.word_emb.", "crit."
    for i, (lo, hi) in enumerate(bounds):
        shared_table = c.div_val == 1  # the reference: one table, one projection, one output layer
        j, rows = (0, slice(lo, hi)) if shared_table else (i, slice(None))
        table = hf.get(f"{emb}emb_layers.{j}.weight")
        if table is not None:
            ours[f"embed.embeddings.{i}.weight"] = table[rows].clone()
            used.add(f"{emb}emb_layers.{j}.weight")
        proj = hf.get(f"{emb}emb_projs.{j}")
        if proj is not None:  # (d_model, d_emb): the reference computes x @ proj.T, an nn.Linear's weight
            ours[f"embed.projections.{i}.weight"] = proj.clone()
            used.add(f"{emb}emb_projs.{j}")
        out_w, out_b = f"{crit}out_layers.{j}.weight", f"{crit}out_layers.{j}.bias"
        if out_b in hf:
            ours[f"softmax.outputs.{i}.bias"] = hf[out_b][rows].clone()
            used.add(out_b)
        if c.tie_word_embeddings:
            _same(hf, out_w, f"{emb}emb_layers.{j}.weight", used, problems)
        elif out_w in hf:
            ours[f"softmax.outputs.{i}.weight"] = hf[out_w][rows].clone()
            used.add(out_w)
        out_proj = f"{crit}out_projs.{i}"
        if ties[i] and proj is not None:
            _same(hf, out_proj, f"{emb}emb_projs.{j}", used, problems)
        elif out_proj in hf:  # (d_model, d_emb): the reference computes h @ proj, so ours is its transpose
            ours[f"softmax.projections.{i}.weight"] = hf[out_proj].t().contiguous()
            used.add(out_proj)
    if len(bounds) > 1:
        for hf_key, our_key in (("cluster_weight", "weight"), ("cluster_bias", "bias")):
            if f"{crit}{hf_key}" in hf:
                ours[f"softmax.clusters.{our_key}"] = hf[f"{crit}{hf_key}"].clone()
                used.add(f"{crit}{hf_key}")


def _positions(hf: dict, c: TransformerXLConfig, used: set, problems: list) -> None:
    key = "transformer.pos_emb.inv_freq"  # a buffer of the sinusoid frequencies einformer computes
    if key in hf:
        used.add(key)
        expected = 1 / (10000 ** (torch.arange(0.0, c.d_model, 2.0) / c.d_model))
        if hf[key].shape != expected.shape or not torch.allclose(hf[key].float(), expected, rtol=1e-5):
            problems.append(f"{key} is not the sinusoid frequencies of d_model={c.d_model}")


def load_hf_transfo_xl(cls, directory: str | Path):
    """A ``cls`` (TransformerXL) built from a Hugging Face TransfoXLLMHeadModel directory."""
    config = config_from_hf(read_hf_config(directory), str(Path(directory) / "config.json"))
    model = cls(config)
    state = state_from_hf(read_hf_weights(directory), config, str(directory))
    load_state_strict(model, state, source=f"Transformer-XL checkpoint {directory}")
    return model
