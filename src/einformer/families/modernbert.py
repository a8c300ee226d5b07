"""ModernBERT: a pre-norm encoder with rotary positions, GeGLU and alternating global and local
attention; its tokenizer.json (byte-level BPE); Hugging Face's ModernBERT format in and out
(``interop/modernbert.py``)."""

from __future__ import annotations

from pathlib import Path

from ..config.modernbert import ModernBertConfig
from ..interop.modernbert import load_hf_modernbert, save_hf_modernbert
from ..models.modernbert import (
    ModernBertForMaskedLM,
    ModernBertForMultipleChoice,
    ModernBertForQuestionAnswering,
    ModernBertForSequenceClassification,
    ModernBertForTokenClassification,
    ModernBertModel,
)
from ..registry import (
    BASE,
    MASKED_LM,
    MULTIPLE_CHOICE,
    QUESTION_ANSWERING,
    SEQUENCE_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
    Family,
)
from .common import read_encoder_tokenizer, save_tokenizer

# ModernBERT's released tokenizer_config.json names these; the defaults where a directory's does not
SPECIAL = {
    "bos": "[CLS]",
    "eos": "[SEP]",
    "unk": "[UNK]",
    "sep": "[SEP]",
    "pad": "[PAD]",
    "cls": "[CLS]",
    "mask": "[MASK]",
}


def read_tokenizers(directory: Path, huggingface: bool):
    return read_encoder_tokenizer(directory, SPECIAL)


FAMILY = Family(
    config_class=ModernBertConfig,
    models={
        BASE: ModernBertModel,
        MASKED_LM: ModernBertForMaskedLM,
        SEQUENCE_CLASSIFICATION: ModernBertForSequenceClassification,
        TOKEN_CLASSIFICATION: ModernBertForTokenClassification,
        QUESTION_ANSWERING: ModernBertForQuestionAnswering,
        MULTIPLE_CHOICE: ModernBertForMultipleChoice,
    },
    read_tokenizers=read_tokenizers,
    save_tokenizers=save_tokenizer,
    hf_model_types=("modernbert",),
    load_hf=load_hf_modernbert,
    train_flags={},  # not trained by `einformer train`: fine-tuned (`einformer finetune`)
    save_hf=save_hf_modernbert,
)
