"""Hugging Face RoBERTa and XLM-RoBERTa <-> einformer's, through a strict key map.

The encoder's keys are BERT's (``interop/bert.py``) under ``roberta.``; the heads are ``lm_head``
(dense, layer_norm, decoder tied to the word embeddings, and its bias, stored as ``lm_head.bias``
and, by some versions, again as ``lm_head.decoder.bias``), ``classifier.dense`` / ``.out_proj`` (the
sentence head), ``classifier`` (tagging) and ``qa_outputs``. The position table has
``pad_token_id + 1`` more rows than usable positions: ``max_position_embeddings`` 514 is einformer's
``max_position`` 512.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..checkpoint import CheckpointError
from ..config import RobertaConfig, XLMRobertaConfig
from .bert import config_from_hf as bert_config_from_hf
from .bert import config_to_hf as bert_config_to_hf
from .bert import encoder_key_map
from .encoder_keys import EncoderFormat, load_hf_encoder, save_hf_encoder
from .hf_files import MAX_SHARD_SIZE, read_hf_config

FORMAT = EncoderFormat(
    name="RoBERTa",
    prefix="roberta",
    encoder=encoder_key_map,
    heads={
        "mlm.transform": "lm_head.dense",
        "mlm.norm": "lm_head.layer_norm",
        "mlm.decoder.weight": "lm_head.decoder.weight",
        "mlm.decoder.bias": "lm_head.bias",
        "head.dense": "classifier.dense",
        "head.out_proj": "classifier.out_proj",
        "classifier": "classifier",
        "qa_outputs": "qa_outputs",
    },
    aliases={"lm_head.decoder.bias": "lm_head.bias"},
    head_keys=("lm_head.", "classifier.", "qa_outputs."),
)


def config_from_hf(hf: dict, config_class: type[RobertaConfig] = RobertaConfig, **changes) -> RobertaConfig:
    """einformer's config of a Hugging Face RoBERTa (or XLM-R) config.json; BERT's options are checked
    as BERT's, and the position table's padding rows are taken off ``max_position``."""
    fields = dataclasses.asdict(bert_config_from_hf(hf, **changes))
    pad = fields["pad_token_id"]
    if "max_position" not in changes:
        fields["max_position"] = hf.get("max_position_embeddings", 514) - (pad + 1)
        if fields["max_position"] < 1:
            raise CheckpointError(
                f"{config_class.model_type} config: max_position_embeddings={hf.get('max_position_embeddings')} "
                f"leaves no position past the pad_token_id + 1 = {pad + 1} padding rows"
            )
    return config_class(**fields)


def config_to_hf(c: RobertaConfig, architecture: str) -> dict:
    hf = bert_config_to_hf(c, architecture)
    hf.update(
        model_type="xlm-roberta" if isinstance(c, XLMRobertaConfig) else "roberta",
        max_position_embeddings=c.max_position + c.position_offset,
        bos_token_id=0,
        eos_token_id=2,
    )
    return hf


def load_hf_roberta(cls, directory: str | Path, **config_changes):
    """A ``cls`` (a RoBERTa or XLM-R model or head) from a Hugging Face directory, loaded strictly."""
    config = config_from_hf(read_hf_config(directory), cls.config_class, **config_changes)
    return load_hf_encoder(FORMAT, cls, directory, config)


def save_hf_roberta(model, directory: str | Path, *, max_shard_size: int | str = MAX_SHARD_SIZE) -> Path:
    """config.json + model.safetensors in Hugging Face's layout for this model's class."""
    config = config_to_hf(model.config, type(model).__name__)
    return save_hf_encoder(FORMAT, model, directory, config, max_shard_size=max_shard_size)
