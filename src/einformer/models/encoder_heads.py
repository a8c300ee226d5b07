"""The sentence-classification head of the families that share BERT's encoder but not its pooler
(RoBERTa, XLM-RoBERTa, DistilBERT, ELECTRA), and the model class around it.

BERT classifies from its pooler, tanh(W h_[CLS] + b), then dropout and a linear map. These families
have no pooler; their classification head reads the first token's state itself:

    RoBERTa, XLM-R:  dropout -> dense -> tanh -> dropout -> out_proj
    ELECTRA:         dropout -> dense -> GELU -> dropout -> out_proj
    DistilBERT:      dense -> ReLU -> dropout -> out_proj

``activation`` and ``dropout_first`` are the two named differences. ``EncoderForMultipleChoice``
scores each choice with the same head, one output (Hugging Face's DistilBERT and DeBERTa-v2
multiple-choice heads); a family whose multiple-choice head differs gives its own ``make_head``
(ELECTRA's sequence summary, ``models/electra.py``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn import Dropout
from ..nn.feedforward import get_activation
from .bert_heads import BertHeadModel, BertTaskOutput, classification_loss, flat_choices


class SentenceClassificationHead(nn.Module):
    """(B, T, D) token states -> (B, num_labels) logits, from the first token's state."""

    def __init__(self, d_model: int, num_labels: int, *, activation: str, dropout: float, dropout_first: bool):
        super().__init__()
        self.dense = nn.Linear(d_model, d_model)
        self.act = torch.tanh if activation == "tanh" else get_activation(activation)
        self.dropout = Dropout(dropout)
        self.dropout_first = dropout_first
        self.out_proj = nn.Linear(d_model, num_labels)

    def forward(self, hidden: Tensor) -> Tensor:
        x = hidden[:, 0]  # (B, D): <s> / [CLS]
        if self.dropout_first:
            x = self.dropout(x)
        return self.out_proj(self.dropout(self.act(self.dense(x))))


class EncoderForSequenceClassification(BertHeadModel):
    """An encoder without pooler and a ``SentenceClassificationHead``; losses as BERT's
    (``classification_loss``: Hugging Face's choice from ``problem_type`` and the labels)."""

    head_activation: ClassVar[str] = "tanh"
    head_dropout_first: ClassVar[bool] = True
    head_outputs: ClassVar[int | None] = None  # None: config.num_labels

    def __init__(self, config) -> None:
        super().__init__(config)
        self.bert = self.encoder_class(config, add_pooling_layer=False)
        self.head = self.make_head(config)
        self.init_weights()

    @classmethod
    def make_head(cls, config) -> nn.Module:
        """(B, T, D) -> (B, outputs): the sentence head (ELECTRA's multiple choice has its own)."""
        return SentenceClassificationHead(
            config.d_model,
            cls.head_outputs or config.num_labels,
            activation=cls.head_act(config),
            dropout=cls.head_dropout(config),
            dropout_first=cls.head_dropout_first,
        )

    @classmethod
    def head_act(cls, config) -> str:
        """The dense layer's activation (``head_activation``; DeBERTa's comes from its config)."""
        return cls.head_activation

    @staticmethod
    def head_dropout(config) -> float:
        return config.dropout if config.classifier_dropout is None else config.classifier_dropout

    def forward(
        self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None, **extras
    ) -> BertTaskOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, **extras)
        logits = self.head(out.last_hidden_state)  # (B, num_labels)
        loss = None if labels is None else classification_loss(logits, labels, self.config)
        return BertTaskOutput(logits, loss, hidden_states=out.hidden_states, attentions=out.attentions)


class EncoderForMultipleChoice(EncoderForSequenceClassification):
    """Inputs (B, C, T): each choice encoded with its context, one score per choice from the sentence
    head; cross-entropy over the C choices. A family's class also subclasses its sequence classifier
    (for its head's activation and dropout)."""

    head_outputs = 1

    def forward(
        self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None, **extras
    ) -> BertTaskOutput:
        b, c, _ = input_ids.shape
        flat = flat_choices
        out = self.bert(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids), **extras)
        logits = self.head(out.last_hidden_state).view(b, c)
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return BertTaskOutput(logits, loss, hidden_states=out.hidden_states, attentions=out.attentions)
