"""DistilBERT: BERT's post-norm encoder (``bert.py``) without token types or pooler, optionally with
fixed sinusoidal positions; its own head shapes.

Its checkpoints name everything differently (``transformer.layer.i.attention.q_lin``, ...); the key
map in ``interop/distilbert.py`` says which is which. Heads:
* masked LM: vocab_transform -> activation -> vocab_layer_norm -> vocab_projector (tied), BERT's head;
* sequence classification: pre_classifier -> ReLU -> dropout -> classifier over [CLS]
  (``encoder_heads.py``, without the first dropout);
* token classification and question answering: BERT's.
"""

from __future__ import annotations

import torch

from ..config import DistilBertConfig
from ..nn.embeddings import sinusoidal_table
from .bert import BertModel, Embeddings
from .bert_heads import BertForMaskedLM, BertForQuestionAnswering, BertForTokenClassification
from .encoder_heads import EncoderForMultipleChoice, EncoderForSequenceClassification


class SinusoidalInit:
    """BERT's init, then, with ``sinusoidal_positions``, the fixed sine/cosine table in the position
    embeddings, which no longer train (every DistilBERT class: a head's init covers its encoder)."""

    def init_weights(self) -> None:
        super().init_weights()
        if self.config.sinusoidal_positions:
            for module in self.modules():
                if isinstance(module, Embeddings):
                    table = module.position.weight
                    with torch.no_grad():
                        table.copy_(sinusoidal_table(table.shape[0], table.shape[1]))
                    table.requires_grad_(False)


class DistilBertModel(SinusoidalInit, BertModel):
    """input_ids (B, T) -> last_hidden_state (B, T, D); no pooler, no token types."""

    config_class = DistilBertConfig

    def __init__(self, config: DistilBertConfig, add_pooling_layer: bool = False) -> None:
        super().__init__(config, add_pooling_layer=False)


class DistilBertForMaskedLM(SinusoidalInit, BertForMaskedLM):
    config_class, encoder_class = DistilBertConfig, DistilBertModel


class DistilBertForSequenceClassification(SinusoidalInit, EncoderForSequenceClassification):
    config_class, encoder_class = DistilBertConfig, DistilBertModel
    head_activation, head_dropout_first = "relu", False

    @staticmethod
    def head_dropout(config) -> float:
        return config.seq_classif_dropout


class DistilBertForMultipleChoice(EncoderForMultipleChoice, DistilBertForSequenceClassification):
    """pre_classifier -> ReLU -> dropout -> classifier over [CLS] of each choice: one score each."""


class DistilBertForTokenClassification(SinusoidalInit, BertForTokenClassification):
    config_class, encoder_class = DistilBertConfig, DistilBertModel


class DistilBertForQuestionAnswering(SinusoidalInit, BertForQuestionAnswering):
    config_class, encoder_class = DistilBertConfig, DistilBertModel
