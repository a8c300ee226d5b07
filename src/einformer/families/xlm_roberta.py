"""XLM-RoBERTa: RoBERTa's architecture (``models/roberta.py``) with a sentencepiece-unigram
tokenizer.json; Hugging Face's XLM-RoBERTa format in and out (``interop/roberta.py``)."""

from __future__ import annotations

from pathlib import Path

from ..config import XLMRobertaConfig
from ..interop.roberta import load_hf_roberta, save_hf_roberta
from ..models import (
    XLMRobertaForMaskedLM,
    XLMRobertaForQuestionAnswering,
    XLMRobertaForSequenceClassification,
    XLMRobertaForTokenClassification,
    XLMRobertaModel,
)
from ..models.roberta import XLMRobertaForMultipleChoice
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

SPECIAL = {"bos": "<s>", "eos": "</s>", "unk": "<unk>", "sep": "</s>", "pad": "<pad>", "cls": "<s>", "mask": "<mask>"}


def read_tokenizers(directory: Path, huggingface: bool):
    return read_encoder_tokenizer(directory, SPECIAL)


FAMILY = Family(
    config_class=XLMRobertaConfig,
    models={
        BASE: XLMRobertaModel,
        MASKED_LM: XLMRobertaForMaskedLM,
        SEQUENCE_CLASSIFICATION: XLMRobertaForSequenceClassification,
        TOKEN_CLASSIFICATION: XLMRobertaForTokenClassification,
        QUESTION_ANSWERING: XLMRobertaForQuestionAnswering,
        MULTIPLE_CHOICE: XLMRobertaForMultipleChoice,
    },
    read_tokenizers=read_tokenizers,
    save_tokenizers=save_tokenizer,
    hf_model_types=("xlm-roberta",),
    load_hf=load_hf_roberta,
    train_flags={},  # not trained by `einformer train`: fine-tuned (`einformer finetune`)
    save_hf=save_hf_roberta,
)
