"""ELECTRA's discriminator: BERT's encoder (``bert.py``) whose embeddings may be narrower than the
encoder, with a linear projection between them (the config's ``embedding_size``), and no pooler.

``bert.Embeddings`` builds the narrow tables and the projection from the config's ``d_embed``. Heads:
* masked LM (ELECTRA's generator head): dense D -> E, GELU, LayerNorm(E), decoder tied to the E-wide
  word embeddings: BERT's head at the embeddings' width;
* sequence classification: dropout -> dense -> GELU -> dropout -> out_proj over [CLS]
  (``encoder_heads.py``);
* token classification and question answering: BERT's;
* multiple choice: Hugging Face's "sequence summary" of the first token, dense -> GELU -> dropout
  (``summary_last_dropout``), then a linear map to one score per choice (``SequenceSummaryHead``);
* replaced-token detection (the discriminator's pre-training head, ``ElectraForPreTraining``): every
  token's state through dense D -> D, the encoder's activation, then dense D -> 1, a logit per token
  that it was replaced by the generator (``DiscriminatorHead``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..config import ElectraConfig
from ..nn import Dropout
from ..nn.feedforward import get_activation
from .bert import BertModel
from .bert_heads import (
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForTokenClassification,
    BertHeadModel,
    BertTaskOutput,
)
from .encoder_heads import EncoderForMultipleChoice, EncoderForSequenceClassification


class ElectraModel(BertModel):
    """input_ids (B, T) -> last_hidden_state (B, T, D); no pooler."""

    config_class = ElectraConfig

    def __init__(self, config: ElectraConfig, add_pooling_layer: bool = False) -> None:
        super().__init__(config, add_pooling_layer=False)


class ElectraForMaskedLM(BertForMaskedLM):
    config_class, encoder_class, mlm_activation = ElectraConfig, ElectraModel, "gelu"


class ElectraForSequenceClassification(EncoderForSequenceClassification):
    config_class, encoder_class, head_activation = ElectraConfig, ElectraModel, "gelu"


class ElectraForTokenClassification(BertForTokenClassification):
    config_class, encoder_class = ElectraConfig, ElectraModel


class ElectraForQuestionAnswering(BertForQuestionAnswering):
    config_class, encoder_class = ElectraConfig, ElectraModel


class SequenceSummaryHead(nn.Module):
    """(B, T, D) token states -> (B, 1) scores: the first token's state through ``summary`` (D -> D),
    GELU and dropout, then ``classifier`` (D -> 1). Hugging Face's ElectraSequenceSummary with
    ELECTRA's defaults (summary_type "first", a projection to D, gelu, no first dropout)."""

    def __init__(self, d_model: int, dropout: float) -> None:
        super().__init__()
        self.summary = nn.Linear(d_model, d_model)
        self.act = get_activation("gelu")
        self.dropout = Dropout(dropout)
        self.classifier = nn.Linear(d_model, 1)

    def forward(self, hidden: Tensor) -> Tensor:
        x = hidden[:, 0]  # (B, D): [CLS]
        return self.classifier(self.dropout(self.act(self.summary(x))))


class ElectraForMultipleChoice(EncoderForMultipleChoice, ElectraForSequenceClassification):
    """Inputs (B, C, T) -> (B, C) scores through ``SequenceSummaryHead``."""

    @classmethod
    def make_head(cls, config: ElectraConfig) -> nn.Module:
        return SequenceSummaryHead(config.d_model, config.summary_last_dropout)


class DiscriminatorHead(nn.Module):
    """(B, T, D) token states -> (B, T) logits that each token was replaced: ``dense`` (D -> D), the
    activation, ``score`` (D -> 1). Hugging Face's ElectraDiscriminatorPredictions."""

    def __init__(self, d_model: int, activation: str) -> None:
        super().__init__()
        self.dense = nn.Linear(d_model, d_model)
        self.act = get_activation(activation)
        self.score = nn.Linear(d_model, 1)

    def forward(self, hidden: Tensor) -> Tensor:
        return self.score(self.act(self.dense(hidden))).squeeze(-1)  # (B, T, 1) -> (B, T)


def replaced_token_loss(logits: Tensor, labels: Tensor, attention_mask: Tensor | None) -> Tensor:
    """Mean binary cross-entropy of (B, T) logits against 0/1 labels (1: replaced) over the tokens
    that count: attention_mask == 1 where a mask is given (as transformers), and labels != -100.

    transformers has no ignore index here (a -100 on a real token enters its loss as a target of
    -100); on labels without -100 on real tokens the two losses are the same."""
    keep = labels != -100
    if attention_mask is not None:
        keep = keep & (attention_mask == 1)
    return F.binary_cross_entropy_with_logits(logits[keep], labels[keep].to(logits.dtype))


class ElectraForPreTraining(BertHeadModel):
    """ELECTRA's discriminator as pre-trained (what google/electra-*-discriminator checkpoints hold):
    input_ids (B, T) -> logits (B, T), one per token, > 0 where the model thinks the token was replaced.
    ``labels`` (B, T): 1 replaced, 0 original, -100 ignored (``replaced_token_loss``)."""

    config_class, encoder_class = ElectraConfig, ElectraModel

    def __init__(self, config: ElectraConfig) -> None:
        super().__init__(config)
        self.bert = self.encoder_class(config, add_pooling_layer=False)
        self.discriminator = DiscriminatorHead(config.d_model, config.activation)
        self.init_weights()

    def forward(
        self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None, **extras
    ) -> BertTaskOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, **extras)
        logits = self.discriminator(out.last_hidden_state)  # (B, T)
        loss = None if labels is None else replaced_token_loss(logits, labels, attention_mask)
        return BertTaskOutput(logits, loss, hidden_states=out.hidden_states, attentions=out.attentions)
