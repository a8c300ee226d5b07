"""einformer's models, one architecture per file, each read top-down (Model -> Block -> pieces)."""

from .base import PreTrainedModel
from .bert import BertModel
from .bert_heads import (
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)
from .encoder_decoder import EncoderDecoderTransformer
from .gpt import GPT
from .llama import Llama
from .transformer_xl import TransformerXL
from .universal import UniversalTransformer

__all__ = [
    "BertForMaskedLM",
    "BertForMultipleChoice",
    "BertForPreTraining",
    "BertForQuestionAnswering",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertModel",
    "EncoderDecoderTransformer",
    "GPT",
    "Llama",
    "PreTrainedModel",
    "TransformerXL",
    "UniversalTransformer",
]
