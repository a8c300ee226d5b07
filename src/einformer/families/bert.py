"""BERT: a bidirectional encoder and its task heads; Hugging Face's BERT format in and out
(``interop/bert.py``), with its WordPiece tokenizer."""

from __future__ import annotations

from pathlib import Path

from ..config import BertConfig
from ..data.bert_tokenizer import load_tokenizer
from ..interop.bert import load_hf_bert, save_hf_bert
from ..models import (
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from ..registry import (
    BASE,
    MASKED_LM,
    MASKED_LM_PRETRAINING,
    MULTIPLE_CHOICE,
    PRETRAINING,
    QUESTION_ANSWERING,
    SEQUENCE_CLASSIFICATION,
    STANDARD_FLAGS,
    TOKEN_CLASSIFICATION,
    Family,
    Tokenizers,
)


def read_tokenizers(directory: Path, huggingface: bool) -> Tokenizers:
    """The WordPiece tokenizer, in Hugging Face's files (einformer writes the same)."""
    return Tokenizers(load_tokenizer(directory))


def save_tokenizers(tokenizers: Tokenizers, directory: Path) -> None:
    if tokenizers.tokenizer is not None:
        tokenizers.tokenizer.save_pretrained(directory)


FAMILY = Family(
    config_class=BertConfig,
    models={
        BASE: BertModel,
        MASKED_LM: BertForMaskedLM,
        PRETRAINING: BertForPreTraining,
        SEQUENCE_CLASSIFICATION: BertForSequenceClassification,
        TOKEN_CLASSIFICATION: BertForTokenClassification,
        QUESTION_ANSWERING: BertForQuestionAnswering,
        MULTIPLE_CHOICE: BertForMultipleChoice,
    },
    read_tokenizers=read_tokenizers,
    save_tokenizers=save_tokenizers,
    hf_model_types=("bert",),
    load_hf=load_hf_bert,
    save_hf=save_hf_bert,
    recipe=MASKED_LM_PRETRAINING,
    train_flags={flag: fields for flag, fields in STANDARD_FLAGS.items() if flag != "norm_first"},  # post-norm only
)
