"""Hugging Face DistilBERT <-> einformer's, through a strict key map.

DistilBERT names every part its own way (``transformer.layer.i.attention.q_lin``, ``sa_layer_norm``,
``ffn.lin1``, ``output_layer_norm``, ...) and its config too (``dim``, ``hidden_dim``,
``sinusoidal_pos_embds``); the tables below say which is which. Its LayerNorms' epsilon is fixed at
1e-12. Heads: ``vocab_transform``, ``vocab_layer_norm``, ``vocab_projector`` (tied) for masked LM,
``pre_classifier`` + ``classifier`` for sequences, ``classifier`` for tokens, ``qa_outputs``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..checkpoint import CheckpointError
from ..config import DistilBertConfig
from .bert import config_from_hf as bert_config_from_hf
from .encoder_keys import EncoderFormat, labels_config, load_hf_encoder, save_hf_encoder
from .hf_files import MAX_SHARD_SIZE, read_hf_config

LAYER = {
    "attn.q_proj": "attention.q_lin",
    "attn.k_proj": "attention.k_lin",
    "attn.v_proj": "attention.v_lin",
    "attn.out_proj": "attention.out_lin",
    "attn_norm": "sa_layer_norm",
    "ffn.fc1": "ffn.lin1",
    "ffn.fc2": "ffn.lin2",
    "ffn_norm": "output_layer_norm",
}
ACTIVATIONS = {"gelu": "gelu", "relu": "relu"}


def encoder_keys(n_layers: int) -> dict[str, str]:
    keys = {
        "embeddings.word.weight": "embeddings.word_embeddings.weight",
        "embeddings.position.weight": "embeddings.position_embeddings.weight",
        "embeddings.norm.weight": "embeddings.LayerNorm.weight",
        "embeddings.norm.bias": "embeddings.LayerNorm.bias",
    }
    for i in range(n_layers):
        for ours, theirs in LAYER.items():
            for p in ("weight", "bias"):
                keys[f"layers.{i}.{ours}.{p}"] = f"transformer.layer.{i}.{theirs}.{p}"
    return keys


FORMAT = EncoderFormat(
    name="DistilBERT",
    prefix="distilbert",
    encoder=encoder_keys,
    heads={
        "mlm.transform": "vocab_transform",
        "mlm.norm": "vocab_layer_norm",
        "mlm.decoder": "vocab_projector",
        "head.dense": "pre_classifier",
        "head.out_proj": "classifier",
        "classifier": "classifier",
        "qa_outputs": "qa_outputs",
    },
    head_keys=("vocab_", "pre_classifier.", "classifier.", "qa_outputs."),
)


def config_from_hf(hf: dict, **changes) -> DistilBertConfig:
    if hf.get("tie_weights_", True) is not True:
        raise CheckpointError("DistilBERT config option tie_weights_=False is not supported (einformer ties them)")
    act = hf.get("activation", "gelu")
    if act not in ACTIVATIONS:
        raise CheckpointError(
            f"DistilBERT config option activation={act!r} is not supported; supported: {sorted(ACTIVATIONS)}"
        )
    own = {"sinusoidal_positions", "seq_classif_dropout", "qa_dropout"}
    as_bert = {
        "vocab_size": hf["vocab_size"],
        "hidden_size": hf["dim"],
        "num_hidden_layers": hf["n_layers"],
        "num_attention_heads": hf["n_heads"],
        "intermediate_size": hf["hidden_dim"],
        "hidden_act": ACTIVATIONS[act],
        "hidden_dropout_prob": hf.get("dropout", 0.1),
        "attention_probs_dropout_prob": hf.get("attention_dropout", 0.1),
        "max_position_embeddings": hf.get("max_position_embeddings", 512),
        "type_vocab_size": 0,
        "layer_norm_eps": 1e-12,
        "pad_token_id": hf.get("pad_token_id", 0),
        **{k: hf[k] for k in ("num_labels", "id2label", "problem_type") if k in hf},
    }
    fields = dataclasses.asdict(bert_config_from_hf(as_bert, **{k: v for k, v in changes.items() if k not in own}))
    fields.update(
        sinusoidal_positions=bool(hf.get("sinusoidal_pos_embds", False)),
        seq_classif_dropout=hf.get("seq_classif_dropout", 0.2),
        qa_dropout=hf.get("qa_dropout", 0.1),
    )
    fields.update({k: v for k, v in changes.items() if k in own})
    return DistilBertConfig(**fields)


def config_to_hf(c: DistilBertConfig, architecture: str) -> dict:
    if c.activation not in ACTIVATIONS:
        raise ValueError(f"activation {c.activation!r} has no Hugging Face DistilBERT equivalent")
    if c.layer_norm_eps != 1e-12:
        raise ValueError(f"layer_norm_eps={c.layer_norm_eps}: Hugging Face's DistilBERT fixes it at 1e-12")
    return {
        "model_type": "distilbert",
        "architectures": [architecture],
        "vocab_size": c.vocab_size,
        "dim": c.d_model,
        "n_layers": c.n_layers,
        "n_heads": c.n_heads,
        "hidden_dim": c.d_ff,
        "activation": c.activation,
        "dropout": c.dropout,
        "attention_dropout": c.attention_dropout,
        "max_position_embeddings": c.max_position,
        "sinusoidal_pos_embds": c.sinusoidal_positions,
        "seq_classif_dropout": c.seq_classif_dropout,
        "qa_dropout": c.qa_dropout,
        "pad_token_id": c.pad_token_id,
        "tie_weights_": True,
        **labels_config(c),
    }


def load_hf_distilbert(cls, directory: str | Path, **config_changes):
    """A ``cls`` (DistilBertModel or a head) from a Hugging Face DistilBERT directory, loaded strictly."""
    return load_hf_encoder(FORMAT, cls, directory, config_from_hf(read_hf_config(directory), **config_changes))


def save_hf_distilbert(model, directory: str | Path, *, max_shard_size: int | str = MAX_SHARD_SIZE) -> Path:
    config = config_to_hf(model.config, type(model).__name__)
    return save_hf_encoder(FORMAT, model, directory, config, max_shard_size=max_shard_size)
