"""ELECTRA (the discriminator): BERT's encoder with narrower embeddings and a projection, WordPiece;
Hugging Face's ELECTRA format in and out (``interop/electra.py``). A discriminator checkpoint
(``architectures: ["ElectraForPreTraining"]``) opens with its replaced-token-detection head."""

from __future__ import annotations

from pathlib import Path

from ..config import ElectraConfig
from ..interop.electra import load_hf_electra, save_hf_electra
from ..models import (
    ElectraForMaskedLM,
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
    ElectraModel,
)
from ..models.electra import ElectraForMultipleChoice, ElectraForPreTraining
from ..registry import (
    BASE,
    MASKED_LM,
    MULTIPLE_CHOICE,
    QUESTION_ANSWERING,
    REPLACED_TOKEN_DETECTION,
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
    config_class=ElectraConfig,
    models={
        BASE: ElectraModel,
        MASKED_LM: ElectraForMaskedLM,
        SEQUENCE_CLASSIFICATION: ElectraForSequenceClassification,
        TOKEN_CLASSIFICATION: ElectraForTokenClassification,
        QUESTION_ANSWERING: ElectraForQuestionAnswering,
        MULTIPLE_CHOICE: ElectraForMultipleChoice,
        REPLACED_TOKEN_DETECTION: ElectraForPreTraining,
    },
    read_tokenizers=read_tokenizers,
    save_tokenizers=save_tokenizer,
    hf_model_types=("electra",),
    load_hf=load_hf_electra,
    train_flags={},  # not trained by `einformer train`: fine-tuned (`einformer finetune`)
    save_hf=save_hf_electra,
)
