"""DistilBERT: a 6-layer BERT without token types or pooler, WordPiece; Hugging Face's DistilBERT format in
and out (``interop/distilbert.py``, its own key names)."""

from __future__ import annotations

from pathlib import Path

from ..config import DistilBertConfig
from ..interop.distilbert import load_hf_distilbert, save_hf_distilbert
from ..models import (
    DistilBertForMaskedLM,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from ..models.distilbert import DistilBertForMultipleChoice
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

# transformers' WordPiece tokenizer defaults (BERT's)
SPECIAL = {"unk": "[UNK]", "sep": "[SEP]", "pad": "[PAD]", "cls": "[CLS]", "mask": "[MASK]"}


def read_tokenizers(directory: Path, huggingface: bool):
    return read_encoder_tokenizer(directory, SPECIAL)


FAMILY = Family(
    config_class=DistilBertConfig,
    models={
        BASE: DistilBertModel,
        MASKED_LM: DistilBertForMaskedLM,
        SEQUENCE_CLASSIFICATION: DistilBertForSequenceClassification,
        TOKEN_CLASSIFICATION: DistilBertForTokenClassification,
        QUESTION_ANSWERING: DistilBertForQuestionAnswering,
        MULTIPLE_CHOICE: DistilBertForMultipleChoice,
    },
    read_tokenizers=read_tokenizers,
    save_tokenizers=save_tokenizer,
    hf_model_types=("distilbert",),
    load_hf=load_hf_distilbert,
    train_flags={},  # not trained by `einformer train`: fine-tuned (`einformer finetune`)
    save_hf=save_hf_distilbert,
)
