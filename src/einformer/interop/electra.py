"""Hugging Face ELECTRA <-> einformer's, through a strict key map.

The encoder's keys are BERT's (``interop/bert.py``) under ``electra.``, without a pooler, plus
``embeddings_project`` (einformer's ``embeddings.project``) when the embeddings are narrower than the
encoder. Heads: ``generator_predictions`` (dense, LayerNorm) and ``generator_lm_head`` (tied to the
word embeddings) for masked LM, ``classifier.dense`` / ``.out_proj``, ``classifier`` (tagging),
``qa_outputs``, and for multiple choice ``sequence_summary.summary`` and ``classifier`` (einformer's
``head.summary`` / ``head.classifier``: the head's own names keep it apart from the sequence
classifier's ``classifier.dense``), and for the discriminator (``ElectraForPreTraining``)
``discriminator_predictions.dense`` / ``.dense_prediction`` (einformer's ``discriminator.dense`` /
``.score``). A bare encoder, or another task's head, sets the discriminator's head aside.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..checkpoint import CheckpointError
from ..config import ElectraConfig
from .bert import config_from_hf as bert_config_from_hf
from .bert import config_to_hf as bert_config_to_hf
from .bert import encoder_key_map
from .encoder_keys import EncoderFormat, load_hf_encoder, save_hf_encoder
from .hf_files import MAX_SHARD_SIZE, read_hf_config


def electra_encoder_keys(n_layers: int) -> dict[str, str]:
    keys = {k: v for k, v in encoder_key_map(n_layers).items() if not k.startswith("pooler.")}
    keys.update({f"embeddings.project.{p}": f"embeddings_project.{p}" for p in ("weight", "bias")})
    return keys


FORMAT = EncoderFormat(
    name="ELECTRA",
    prefix="electra",
    encoder=electra_encoder_keys,
    heads={
        "mlm.transform": "generator_predictions.dense",
        "mlm.norm": "generator_predictions.LayerNorm",
        "mlm.decoder": "generator_lm_head",
        "head.dense": "classifier.dense",
        "head.out_proj": "classifier.out_proj",
        "classifier": "classifier",
        "qa_outputs": "qa_outputs",
        "head.summary": "sequence_summary.summary",
        "head.classifier": "classifier",
        "discriminator.dense": "discriminator_predictions.dense",
        "discriminator.score": "discriminator_predictions.dense_prediction",
    },
    head_keys=(
        "generator_predictions.",
        "generator_lm_head.",
        "discriminator_predictions.",
        "classifier.",
        "qa_outputs.",
        "sequence_summary.",
    ),
)
# the sequence summary einformer's multiple-choice head is (Hugging Face's ElectraConfig defaults)
SUMMARY = {"summary_type": "first", "summary_use_proj": True, "summary_activation": "gelu",
           "summary_proj_to_labels": False, "summary_first_dropout": 0}  # fmt: skip


def config_from_hf(hf: dict, **changes) -> ElectraConfig:
    fields = dataclasses.asdict(bert_config_from_hf(hf, **changes))
    fields["embedding_size"] = changes.get("embedding_size", hf.get("embedding_size", 128))
    fields["summary_last_dropout"] = changes.get("summary_last_dropout", hf.get("summary_last_dropout", 0.1))
    return ElectraConfig(**fields)


def config_to_hf(c: ElectraConfig, architecture: str) -> dict:
    hf = bert_config_to_hf(c, architecture)
    hf.update(model_type="electra", embedding_size=c.embedding_size, summary_last_dropout=c.summary_last_dropout)
    return hf


def load_hf_electra(cls, directory: str | Path, **config_changes):
    """A ``cls`` (ElectraModel or a head) from a Hugging Face ELECTRA directory, loaded strictly."""
    hf = read_hf_config(directory)
    if cls.__name__ == "ElectraForMultipleChoice":  # only this head reads the summary_* fields
        check_summary(hf, Path(directory) / "config.json")
    return load_hf_encoder(FORMAT, cls, directory, config_from_hf(hf, **config_changes))


def check_summary(hf: dict, source) -> None:
    """Refuse, by field, a sequence summary other than the one ``SequenceSummaryHead`` computes."""
    for field, supported in SUMMARY.items():
        value = hf.get(field, supported)
        if value != supported:
            raise CheckpointError(
                f"{source}: ELECTRA option {field}={value!r} is not supported by einformer's multiple-choice head "
                f"(only {supported!r}); refusing to load a silently different model"
            )


def save_hf_electra(model, directory: str | Path, *, max_shard_size: int | str = MAX_SHARD_SIZE) -> Path:
    config = config_to_hf(model.config, type(model).__name__)
    return save_hf_encoder(FORMAT, model, directory, config, max_shard_size=max_shard_size)
