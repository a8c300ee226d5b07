"""Hugging Face DeBERTa-v2 (and v3) <-> einformer's, through a strict key map.

The encoder's keys are ``deberta.embeddings.*`` (``embed_proj`` when the embeddings are narrower),
``deberta.encoder.rel_embeddings`` and ``.LayerNorm`` (the shared relative table and its norm), and per
layer ``attention.self.{query,key,value}_proj``, ``pos_{key,query}_proj`` (without ``share_att_key``),
``attention.output``, ``intermediate`` and ``output``. Heads: ``cls.predictions`` (the "legacy"
masked-LM head, tied to the word embeddings), ``pooler.dense`` + ``classifier`` for sequences,
``classifier`` for tokens, ``qa_outputs``. Options einformer does not implement (the convolution
beside the first layer, a head width other than D / H, the non-legacy masked-LM head, attention
without the relative terms) are refused by name.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..checkpoint import CheckpointError
from ..config import DebertaV2Config
from ..config.deberta_v2 import POSITION_TERMS
from .bert import config_from_hf as bert_config_from_hf
from .bert import config_to_hf as bert_config_to_hf
from .encoder_keys import EncoderFormat, load_hf_encoder, save_hf_encoder
from .hf_files import MAX_SHARD_SIZE, read_hf_config

LAYER = {
    "attn.q_proj": "attention.self.query_proj",
    "attn.k_proj": "attention.self.key_proj",
    "attn.v_proj": "attention.self.value_proj",
    "attn.pos_k_proj": "attention.self.pos_key_proj",
    "attn.pos_q_proj": "attention.self.pos_query_proj",
    "attn.out_proj": "attention.output.dense",
    "attn_norm": "attention.output.LayerNorm",
    "ffn.fc1": "intermediate.dense",
    "ffn.fc2": "output.dense",
    "ffn_norm": "output.LayerNorm",
}


def encoder_keys(n_layers: int) -> dict[str, str]:
    keys = {
        "embeddings.word.weight": "embeddings.word_embeddings.weight",
        "embeddings.position.weight": "embeddings.position_embeddings.weight",
        "embeddings.token_type.weight": "embeddings.token_type_embeddings.weight",
        "embeddings.project.weight": "embeddings.embed_proj.weight",
        "embeddings.norm.weight": "embeddings.LayerNorm.weight",
        "embeddings.norm.bias": "embeddings.LayerNorm.bias",
        "rel_embeddings.weight": "encoder.rel_embeddings.weight",
        "rel_norm.weight": "encoder.LayerNorm.weight",
        "rel_norm.bias": "encoder.LayerNorm.bias",
    }
    for i in range(n_layers):
        for ours, theirs in LAYER.items():
            for p in ("weight", "bias"):
                keys[f"layers.{i}.{ours}.{p}"] = f"encoder.layer.{i}.{theirs}.{p}"
    return keys


FORMAT = EncoderFormat(
    name="DeBERTa-v2",
    prefix="deberta",
    encoder=encoder_keys,
    heads={
        "mlm.transform": "cls.predictions.transform.dense",
        "mlm.norm": "cls.predictions.transform.LayerNorm",
        "mlm.decoder.weight": "cls.predictions.decoder.weight",
        "mlm.decoder.bias": "cls.predictions.bias",
        "head.dense": "pooler.dense",
        "head.out_proj": "classifier",
        "classifier": "classifier",
        "qa_outputs": "qa_outputs",
    },
    aliases={"cls.predictions.decoder.bias": "cls.predictions.bias"},
    head_keys=("cls.", "lm_predictions.", "mask_predictions.", "pooler.", "classifier.", "qa_outputs."),
)


def config_from_hf(hf: dict, **changes) -> DebertaV2Config:
    refused = {
        "conv_kernel_size": (0, "the convolution beside the first layer"),
        "relative_attention": (True, "attention without relative positions"),
        "legacy": (True, "the non-legacy masked-LM head (lm_predictions)"),
        "z_steps": (0, "the enhanced mask decoder's extra steps"),
    }
    for field, (supported, what) in refused.items():
        if hf.get(field, supported) != supported:
            raise CheckpointError(
                f"DeBERTa-v2 config option {field}={hf[field]!r} ({what}) is not supported by einformer "
                f"(only {supported!r}); refusing to load a silently different model"
            )
    d, heads = hf["hidden_size"], hf["num_attention_heads"]
    for field, expected in (("attention_head_size", d // heads), ("pooler_hidden_size", d)):
        if hf.get(field, expected) != expected:
            raise CheckpointError(f"DeBERTa-v2 config option {field}={hf[field]} is not supported (only {expected})")
    norms = [x.strip() for x in str(hf.get("norm_rel_ebd") or "none").lower().split("|")]
    if set(norms) - {"none", "layer_norm"}:
        raise CheckpointError(f"DeBERTa-v2 config option norm_rel_ebd={hf['norm_rel_ebd']!r} is not supported")
    terms = hf.get("pos_att_type") or []
    terms = [x.strip() for x in terms.lower().split("|")] if isinstance(terms, str) else list(terms)
    if set(terms) - set(POSITION_TERMS):
        raise CheckpointError(f"DeBERTa-v2 config option pos_att_type={terms} has terms einformer lacks")
    fields = dataclasses.asdict(bert_config_from_hf({"type_vocab_size": 0, **hf}))
    fields.update(
        pos_att_type=tuple(terms),
        position_buckets=max(hf.get("position_buckets") or -1, 0),
        max_relative_positions=hf.get("max_relative_positions") or -1,
        share_att_key=bool(hf.get("share_att_key", False)),
        norm_rel_embeddings="layer_norm" in norms,
        position_biased_input=bool(hf.get("position_biased_input", True)),
        embedding_size=hf.get("embedding_size"),
        pooler_activation=hf.get("pooler_hidden_act", "gelu"),
        pooler_dropout=hf.get("pooler_dropout", 0.0),
        layer_norm_eps=hf.get("layer_norm_eps", 1e-7),
    )
    return DebertaV2Config(**{**fields, **changes})


def config_to_hf(c: DebertaV2Config, architecture: str) -> dict:
    hf = bert_config_to_hf(c, architecture)
    for field in ("position_embedding_type",):
        hf.pop(field, None)
    hf.update(
        model_type="deberta-v2",
        relative_attention=True,
        pos_att_type=list(c.pos_att_type),
        position_buckets=c.position_buckets or -1,
        max_relative_positions=c.max_relative_positions,
        share_att_key=c.share_att_key,
        norm_rel_ebd="layer_norm" if c.norm_rel_embeddings else "none",
        position_biased_input=c.position_biased_input,
        pooler_hidden_size=c.d_model,
        pooler_hidden_act=c.pooler_activation,
        pooler_dropout=c.pooler_dropout,
        legacy=True,
    )
    if c.embedding_size is not None:
        hf["embedding_size"] = c.embedding_size
    return hf


def load_hf_deberta_v2(cls, directory: str | Path, **config_changes):
    """A ``cls`` (DebertaV2Model or a head) from a Hugging Face DeBERTa-v2/v3 directory, loaded strictly."""
    return load_hf_encoder(FORMAT, cls, directory, config_from_hf(read_hf_config(directory), **config_changes))


def save_hf_deberta_v2(model, directory: str | Path, *, max_shard_size: int | str = MAX_SHARD_SIZE) -> Path:
    config = config_to_hf(model.config, type(model).__name__)
    return save_hf_encoder(FORMAT, model, directory, config, max_shard_size=max_shard_size)
