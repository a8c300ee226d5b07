"""RoBERTa: BERT's encoder with positions past the padding row, byte-level BPE; Hugging Face's RoBERTa
format in and out (``interop/roberta.py``)."""

from __future__ import annotations

from pathlib import Path

from ..config import RobertaConfig
from ..interop.roberta import load_hf_roberta, save_hf_roberta
from ..models import (
    RobertaForMaskedLM,
    RobertaForQuestionAnswering,
    RobertaForSequenceClassification,
    RobertaForTokenClassification,
    RobertaModel,
)
from ..models.roberta import RobertaForMultipleChoice
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

# transformers' RobertaTokenizer (and XLMRobertaTokenizer) defaults
SPECIAL = {"bos": "<s>", "eos": "</s>", "unk": "<unk>", "sep": "</s>", "pad": "<pad>", "cls": "<s>", "mask": "<mask>"}


def read_tokenizers(directory: Path, huggingface: bool):
    return read_encoder_tokenizer(directory, SPECIAL)


FAMILY = Family(
    config_class=RobertaConfig,
    models={
        BASE: RobertaModel,
        MASKED_LM: RobertaForMaskedLM,
        SEQUENCE_CLASSIFICATION: RobertaForSequenceClassification,
        TOKEN_CLASSIFICATION: RobertaForTokenClassification,
        QUESTION_ANSWERING: RobertaForQuestionAnswering,
        MULTIPLE_CHOICE: RobertaForMultipleChoice,
    },
    read_tokenizers=read_tokenizers,
    save_tokenizers=save_tokenizer,
    hf_model_types=("roberta",),
    load_hf=load_hf_roberta,
    train_flags={},  # not trained by `einformer train`: fine-tuned (`einformer finetune`)
    save_hf=save_hf_roberta,
)
