"""Hugging Face ModernBERT <-> einformer's, through a strict key map.

The encoder's keys are ``model.embeddings.tok_embeddings`` and ``.norm``, per layer ``attn_norm`` (none
in the first layer), ``attn.Wqkv`` (q, k and v in one matrix), ``attn.Wo``, ``mlp_norm``, ``mlp.Wi`` (the
GeGLU's input half and gate half in one matrix) and ``mlp.Wo``, and ``model.final_norm``. The two fused
matrices are cut into einformer's separate maps on reading and put back together on writing
(``split`` / ``join``). Heads: ``head.dense`` + ``head.norm`` (every task), ``decoder`` (masked LM, its
weight tied to the token table), ``classifier``.

Options that change the outputs and that einformer does not implement are refused by name (another
feed-forward activation, a scaled rotary variant, sparse masked-LM logits, an untied decoder).
Options that only change how transformers computes the same numbers are read and dropped:
``reference_compile``, ``deterministic_flash_attn``, ``repad_logits_with_grad`` (its unpadding), and
the initialisers' ``initializer_range`` / ``initializer_cutoff_factor``.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import torch
from torch import Tensor

from ..checkpoint import CheckpointError
from ..config.modernbert import GLOBAL_EVERY, ModernBertConfig
from .bert import ACTIVATIONS
from .bert import config_from_hf as bert_config_from_hf
from .encoder_keys import EncoderFormat, labels_config, load_hf_encoder, save_hf_encoder
from .hf_files import MAX_SHARD_SIZE, read_hf_config

FUSED = {"attn.Wqkv": ("q", "k", "v"), "mlp.Wi": ("in", "gate")}  # Hugging Face's matrix -> its row blocks
LAYER = {
    "attn.q_proj": "attn.Wqkv.q",
    "attn.k_proj": "attn.Wqkv.k",
    "attn.v_proj": "attn.Wqkv.v",
    "attn.out_proj": "attn.Wo",
    "attn_norm": "attn_norm",
    "ffn.fc1": "mlp.Wi.in",
    "ffn.gate": "mlp.Wi.gate",
    "ffn.fc2": "mlp.Wo",
    "ffn_norm": "mlp_norm",
}
TOKEN_IDS = ("bos_token_id", "eos_token_id", "cls_token_id", "sep_token_id")
ROPE_KINDS = {"full_attention": "global", "sliding_attention": "local"}


def encoder_keys(n_layers: int) -> dict[str, str]:
    keys = {
        "embeddings.word.weight": "embeddings.tok_embeddings.weight",
        "embeddings.norm.weight": "embeddings.norm.weight",
        "embeddings.norm.bias": "embeddings.norm.bias",
        "final_norm.weight": "final_norm.weight",
        "final_norm.bias": "final_norm.bias",
    }
    for i in range(n_layers):
        for ours, theirs in LAYER.items():
            for p in ("weight", "bias"):
                keys[f"layers.{i}.{ours}.{p}"] = f"layers.{i}.{theirs}.{p}"
    return keys


FUSED_KEY = re.compile(r"^(.*\.)?(" + "|".join(re.escape(k) for k in FUSED) + r")\.(weight|bias)$")


def split(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Each fused (n * rows, ...) tensor -> n tensors of ``rows``, named ``<matrix>.<piece>.<param>``."""
    out = {}
    for key, tensor in state.items():
        match = FUSED_KEY.match(key)
        if match is None:
            out[key] = tensor
            continue
        start, matrix, param = match.group(1) or "", match.group(2), match.group(3)
        pieces = FUSED[matrix]
        if tensor.shape[0] % len(pieces):
            raise CheckpointError(f"{key} of shape {tuple(tensor.shape)} does not split into {len(pieces)} blocks")
        for piece, block in zip(pieces, tensor.chunk(len(pieces)), strict=True):
            out[f"{start}{matrix}.{piece}.{param}"] = block
    return out


def join(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The inverse of ``split``: the pieces of each fused matrix concatenated in Hugging Face's order."""
    out, groups = {}, {}
    for key, tensor in state.items():
        start, param = key.rsplit(".", 1)
        matrix, _, piece = start.rpartition(".")
        if any(matrix.endswith(name) and piece in pieces for name, pieces in FUSED.items()):
            groups.setdefault(f"{matrix}.{param}", {})[piece] = tensor
        else:
            out[key] = tensor
    for key, pieces in groups.items():
        order = next(p for name, p in FUSED.items() if key.rsplit(".", 1)[0].endswith(name))
        out[key] = torch.cat([pieces[p] for p in order])
    return out


FORMAT = EncoderFormat(
    name="ModernBERT",
    prefix="model",
    encoder=encoder_keys,
    heads={
        "mlm.transform": "head.dense",
        "mlm.norm": "head.norm",
        "mlm.decoder": "decoder",
        "head.dense": "head.dense",
        "head.norm": "head.norm",
        "classifier": "classifier",
    },
    head_keys=("head.", "decoder.", "classifier."),
    split=split,
    join=join,
)


def config_from_hf(hf: dict, **changes) -> ModernBertConfig:
    """einformer's config of a Hugging Face ModernBERT config.json; what einformer lacks is refused by name."""
    refused = {
        "hidden_activation": ("gelu", "a feed-forward gate other than GeGLU's exact GELU"),
        "sparse_prediction": (False, "masked-LM logits at the labelled positions only"),
        "tie_word_embeddings": (True, "a masked-LM decoder not tied to the token table"),
        "rope_scaling": (None, "a scaled rotary variant"),
    }
    for field, (supported, what) in refused.items():
        if hf.get(field, supported) != supported:
            raise CheckpointError(
                f"ModernBERT config option {field}={hf[field]!r} ({what}) is not supported by einformer "
                f"(only {supported!r}); refusing to load a silently different model"
            )
    n = hf["num_hidden_layers"]
    every = hf.get("global_attn_every_n_layers") or GLOBAL_EVERY
    types = hf.get("layer_types") or ["sliding_attention" if i % every else "full_attention" for i in range(n)]
    theta = {"global": hf.get("global_rope_theta") or 160000.0, "local": hf.get("local_rope_theta") or 10000.0}
    for kind, rope in (hf.get("rope_parameters") or {}).items():
        rope = rope or {}
        if rope.get("rope_type", "default") != "default":
            raise CheckpointError(
                f"ModernBERT config option rope_parameters[{kind!r}].rope_type={rope['rope_type']!r} (a scaled "
                "rotary variant) is not supported by einformer (only 'default')"
            )
        if kind in ROPE_KINDS and rope.get("rope_theta") is not None:
            theta[ROPE_KINDS[kind]] = rope["rope_theta"]
    activation = hf.get("classifier_activation", "gelu")
    if activation not in ACTIVATIONS:
        raise CheckpointError(f"ModernBERT config option classifier_activation={activation!r} is not supported")
    bert = bert_config_from_hf({"hidden_act": "gelu", **{k: v for k, v in hf.items() if k != "hidden_act"}})
    fields = dataclasses.asdict(bert)
    fields.update(
        activation="geglu",
        type_vocab_size=0,
        dropout=hf.get("embedding_dropout", 0.0),
        attention_dropout=hf.get("attention_dropout", 0.0),
        mlp_dropout=hf.get("mlp_dropout", 0.0),
        max_position=hf.get("max_position_embeddings", 8192),
        layer_norm_eps=hf.get("norm_eps", 1e-5),
        pad_token_id=hf.get("pad_token_id", 50283) or 0,
        classifier_dropout=hf.get("classifier_dropout", 0.0),
        layer_types=tuple(types),
        local_attention=hf.get("local_attention", 128),
        global_rope_theta=float(theta["global"]),
        local_rope_theta=float(theta["local"]),
        norm_bias=hf.get("norm_bias", False),
        attention_bias=hf.get("attention_bias", False),
        mlp_bias=hf.get("mlp_bias", False),
        decoder_bias=hf.get("decoder_bias", True),
        classifier_bias=hf.get("classifier_bias", False),
        classifier_activation=ACTIVATIONS[activation],
        classifier_pooling=hf.get("classifier_pooling", "cls"),
        **{name: hf.get(name, getattr(ModernBertConfig, name)) for name in TOKEN_IDS},
    )
    if changes.get("num_labels", fields["num_labels"]) != fields["num_labels"] and "label_names" not in changes:
        fields["label_names"] = None  # a new head: the checkpoint's names no longer apply
    return ModernBertConfig(**{**fields, **changes})


def config_to_hf(c: ModernBertConfig, architecture: str) -> dict:
    activation = {ours: theirs for theirs, ours in reversed(ACTIVATIONS.items())}[c.classifier_activation]
    return {
        "model_type": "modernbert",
        "architectures": [architecture],
        "vocab_size": c.vocab_size,
        "hidden_size": c.d_model,
        "intermediate_size": c.d_ff,
        "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads,
        "hidden_activation": "gelu",
        "max_position_embeddings": c.max_position,
        "norm_eps": c.layer_norm_eps,
        "norm_bias": c.norm_bias,
        "pad_token_id": c.pad_token_id,
        "attention_bias": c.attention_bias,
        "attention_dropout": c.attention_dropout,
        "embedding_dropout": c.dropout,
        "mlp_bias": c.mlp_bias,
        "mlp_dropout": c.mlp_dropout,
        "layer_types": list(c.layer_types),
        "local_attention": c.local_attention,
        "rope_parameters": {
            "full_attention": {"rope_type": "default", "rope_theta": c.global_rope_theta},
            "sliding_attention": {"rope_type": "default", "rope_theta": c.local_rope_theta},
        },
        "decoder_bias": c.decoder_bias,
        "classifier_pooling": c.classifier_pooling,
        "classifier_dropout": c.classifier_dropout or 0.0,
        "classifier_bias": c.classifier_bias,
        "classifier_activation": activation,
        "sparse_prediction": False,
        "tie_word_embeddings": True,
        **{name: getattr(c, name) for name in TOKEN_IDS},
        **labels_config(c),
    }


def load_hf_modernbert(cls, directory: str | Path, **config_changes):
    """A ``cls`` (ModernBertModel or a head) from a Hugging Face ModernBERT directory, loaded strictly."""
    return load_hf_encoder(FORMAT, cls, directory, config_from_hf(read_hf_config(directory), **config_changes))


def save_hf_modernbert(model, directory: str | Path, *, max_shard_size: int | str = MAX_SHARD_SIZE) -> Path:
    config = config_to_hf(model.config, type(model).__name__)
    return save_hf_encoder(FORMAT, model, directory, config, max_shard_size=max_shard_size)
