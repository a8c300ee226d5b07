"""The Universal Transformer: one layer applied recurrently in depth, with Adaptive Computation Time."""

from __future__ import annotations

from pathlib import Path

from ..config import UniversalTransformerConfig
from ..models.universal import UniversalTransformer
from ..registry import SEQ2SEQ, SEQ2SEQ_LM, STANDARD_FLAGS, Family, Tokenizers
from .common import read_seq2seq_tokenizers, save_seq2seq_tokenizers


def read_tokenizers(directory: Path, huggingface: bool) -> Tokenizers:
    found = read_seq2seq_tokenizers(directory)
    return found or Tokenizers(problem=f"{directory} holds a bare model without its source_/target_tokenizer.json")


FAMILY = Family(
    config_class=UniversalTransformerConfig,
    models={SEQ2SEQ_LM: UniversalTransformer},
    read_tokenizers=read_tokenizers,
    save_tokenizers=save_seq2seq_tokenizers,
    recipe=SEQ2SEQ,
    train_name="universal",
    # its depth is --ut-steps (one shared layer), not --layers; --act sets act either way (the config's
    # default is on, the flag's off)
    train_flags={
        **{flag: fields for flag, fields in STANDARD_FLAGS.items() if flag != "layers"},
        "label_smoothing": ("label_smoothing",),
        "act": ("act",),
        "ut_steps": ("max_steps",),
        "act_mode": ("act_mode",),
        "ponder_weight": ("ponder_weight",),
    },
)
