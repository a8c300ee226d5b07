"""DeBERTa-v2 (and v3): BERT's encoder with disentangled attention, its tokenizer.json; Hugging Face's
DeBERTa-v2 format in and out (``interop/deberta_v2.py``)."""

from __future__ import annotations

from pathlib import Path

from ..config import DebertaV2Config
from ..interop.deberta_v2 import load_hf_deberta_v2, save_hf_deberta_v2
from ..models import (
    DebertaV2ForMaskedLM,
    DebertaV2ForQuestionAnswering,
    DebertaV2ForSequenceClassification,
    DebertaV2ForTokenClassification,
    DebertaV2Model,
)
from ..models.deberta_v2 import DebertaV2ForMultipleChoice
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

# transformers' DebertaV2Tokenizer defaults
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
    config_class=DebertaV2Config,
    models={
        BASE: DebertaV2Model,
        MASKED_LM: DebertaV2ForMaskedLM,
        SEQUENCE_CLASSIFICATION: DebertaV2ForSequenceClassification,
        TOKEN_CLASSIFICATION: DebertaV2ForTokenClassification,
        QUESTION_ANSWERING: DebertaV2ForQuestionAnswering,
        MULTIPLE_CHOICE: DebertaV2ForMultipleChoice,
    },
    read_tokenizers=read_tokenizers,
    save_tokenizers=save_tokenizer,
    hf_model_types=("deberta-v2",),
    load_hf=load_hf_deberta_v2,
    train_flags={},  # not trained by `einformer train`: fine-tuned (`einformer finetune`)
    save_hf=save_hf_deberta_v2,
)
