"""BERT's task heads, each a BertModel plus a small layer, with Hugging Face's names and losses.

Labels use ignore index -100. ``BertForSequenceClassification`` chooses its loss the way Hugging
Face does: ``problem_type`` if set, else regression (MSE) for num_labels == 1, single-label
cross-entropy for integer labels, multi-label BCE for float labels.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import BertConfig
from ..nn import Dropout, LayerNorm
from ..nn.feedforward import get_activation
from .bert import BertModel, BertPreTrainedModel


@dataclasses.dataclass
class BertTaskOutput:
    """``logits`` (or QA's ``start_logits``/``end_logits``, pre-training's ``prediction_logits`` and
    ``seq_relationship_logits``; there ``logits`` is ``prediction_logits`` too), ``loss`` when labels were
    given, and the encoder's extras."""

    logits: Tensor | None = None
    loss: Tensor | None = None
    start_logits: Tensor | None = None
    end_logits: Tensor | None = None
    prediction_logits: Tensor | None = None
    seq_relationship_logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


def _encode(bert: BertModel, input_ids, attention_mask, token_type_ids, position_ids, extras):
    return bert(input_ids, attention_mask, token_type_ids, position_ids, **extras)


class MaskedLMHead(nn.Module):
    """dense -> activation -> LayerNorm -> decoder tied to the word embeddings (+ its own bias).

    The dense layer maps D to the embeddings' width (ELECTRA's generator head: narrower than D);
    ``activation`` defaults to the encoder's (RoBERTa's and ELECTRA's heads always use GELU)."""

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding, activation: str | None = None) -> None:
        super().__init__()
        self.transform = nn.Linear(config.d_model, config.d_embed)
        self.act = get_activation(activation or config.activation)
        self.norm = LayerNorm(config.d_embed, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.d_embed, config.vocab_size)
        self.decoder.weight = word_embeddings.weight

    def forward(self, hidden: Tensor) -> Tensor:
        """(B, T, D) -> (B, T, V)."""
        return self.decoder(self.norm(self.act(self.transform(hidden))))


class BertHeadModel(BertPreTrainedModel):
    """A task model: its encoder (``encoder_class``, kept as ``self.bert``) and a head. The families that
    share BERT's encoder (RoBERTa, DistilBERT, ELECTRA) subclass the heads with their own encoder class."""

    encoder_class: ClassVar[type[BertModel]] = BertModel
    mlm_activation: ClassVar[str | None] = None  # the masked-LM head's activation; None: the encoder's


class BertForMaskedLM(BertHeadModel):
    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = self.encoder_class(config, add_pooling_layer=False)
        self.mlm = MaskedLMHead(config, self.bert.embeddings.word, self.mlm_activation)
        self.init_weights()
        self.mlm.decoder.weight = self.bert.embeddings.word.weight  # re-tie after init

    def forward(
        self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None, **extras
    ) -> BertTaskOutput:
        out = _encode(self.bert, input_ids, attention_mask, token_type_ids, position_ids, extras)
        logits = self.mlm(out.last_hidden_state)
        loss = None if labels is None else F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        return BertTaskOutput(logits, loss, hidden_states=out.hidden_states, attentions=out.attentions)


class BertForPreTraining(BertHeadModel):
    """Masked LM and next-sentence prediction (is segment B the sentence that followed A?)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = self.encoder_class(config)
        self.mlm = MaskedLMHead(config, self.bert.embeddings.word)
        self.nsp = nn.Linear(config.d_model, 2)
        self.init_weights()
        self.mlm.decoder.weight = self.bert.embeddings.word.weight

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        labels=None,
        next_sentence_label=None,
        **extras,
    ) -> BertTaskOutput:
        out = _encode(self.bert, input_ids, attention_mask, token_type_ids, position_ids, extras)
        mlm_logits, nsp_logits = self.mlm(out.last_hidden_state), self.nsp(out.pooler_output)
        loss = None
        if labels is not None and next_sentence_label is not None:
            loss = F.cross_entropy(mlm_logits.flatten(0, 1), labels.flatten(), ignore_index=-100) + F.cross_entropy(
                nsp_logits, next_sentence_label.flatten()
            )
        return BertTaskOutput(
            logits=mlm_logits,  # the masked-LM logits, where every masked-LM reader (fill-mask) looks
            loss=loss,
            prediction_logits=mlm_logits,
            seq_relationship_logits=nsp_logits,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
        )


class BertForSequenceClassification(BertHeadModel):
    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = self.encoder_class(config)
        self.dropout = Dropout(config.dropout if config.classifier_dropout is None else config.classifier_dropout)
        self.classifier = nn.Linear(config.d_model, config.num_labels)
        self.init_weights()

    def forward(
        self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None, **extras
    ) -> BertTaskOutput:
        out = _encode(self.bert, input_ids, attention_mask, token_type_ids, position_ids, extras)
        logits = self.classifier(self.dropout(out.pooler_output))  # (B, num_labels)
        loss = None if labels is None else classification_loss(logits, labels, self.config)
        return BertTaskOutput(logits, loss, hidden_states=out.hidden_states, attentions=out.attentions)


def classification_loss(logits: Tensor, labels: Tensor, config: BertConfig) -> Tensor:
    """MSE, cross-entropy or BCE, picked as Hugging Face picks it."""
    problem = config.problem_type
    if problem is None:
        if config.num_labels == 1:
            problem = "regression"
        elif labels.dtype in (torch.long, torch.int):
            problem = "single_label_classification"
        else:
            problem = "multi_label_classification"
    if problem == "regression":
        return (
            F.mse_loss(logits.squeeze(-1), labels.float().squeeze(-1))
            if config.num_labels == 1
            else F.mse_loss(logits, labels.float())
        )
    if problem == "single_label_classification":
        return F.cross_entropy(logits.view(-1, config.num_labels), labels.view(-1), ignore_index=-100)
    return F.binary_cross_entropy_with_logits(logits, labels.float())


def span_loss(start: Tensor, end: Tensor, start_positions: Tensor | None, end_positions: Tensor | None):
    """Question answering's loss from (B, T) start and end logits, or None without both positions: each
    position clamped to T, and T ignored, so an answer outside the input counts for nothing."""
    if start_positions is None or end_positions is None:
        return None
    t = start.shape[1]
    return (
        F.cross_entropy(start, start_positions.clamp(0, t), ignore_index=t)
        + F.cross_entropy(end, end_positions.clamp(0, t), ignore_index=t)
    ) / 2


def flat_choices(x: Tensor | None) -> Tensor | None:
    """A multiple-choice input (B, C, T) as (B * C, T) rows for the encoder (None stays None)."""
    return None if x is None else x.flatten(0, 1)


class BertForTokenClassification(BertHeadModel):
    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = self.encoder_class(config, add_pooling_layer=False)
        self.dropout = Dropout(config.dropout if config.classifier_dropout is None else config.classifier_dropout)
        self.classifier = nn.Linear(config.d_model, config.num_labels)
        self.init_weights()

    def forward(
        self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None, **extras
    ) -> BertTaskOutput:
        out = _encode(self.bert, input_ids, attention_mask, token_type_ids, position_ids, extras)
        logits = self.classifier(self.dropout(out.last_hidden_state))  # (B, T, num_labels)
        loss = None if labels is None else F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        return BertTaskOutput(logits, loss, hidden_states=out.hidden_states, attentions=out.attentions)


class BertForQuestionAnswering(BertHeadModel):
    """Start and end logits of the answer span; positions outside the sequence are ignored."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = self.encoder_class(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.d_model, 2)
        self.init_weights()

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        start_positions=None,
        end_positions=None,
        **extras,
    ) -> BertTaskOutput:
        out = _encode(self.bert, input_ids, attention_mask, token_type_ids, position_ids, extras)
        start, end = self.qa_outputs(out.last_hidden_state).unbind(dim=-1)  # (B, T) each
        return BertTaskOutput(
            loss=span_loss(start, end, start_positions, end_positions),
            start_logits=start,
            end_logits=end,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
        )


class BertForMultipleChoice(BertHeadModel):
    """Inputs (B, C, T): each of C choices is encoded with the context; one score per choice."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = self.encoder_class(config)
        self.dropout = Dropout(config.dropout if config.classifier_dropout is None else config.classifier_dropout)
        self.classifier = nn.Linear(config.d_model, 1)
        self.init_weights()

    def forward(
        self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None, **extras
    ) -> BertTaskOutput:
        b, c, _ = input_ids.shape
        flat = flat_choices
        out = _encode(
            self.bert, flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids), extras
        )
        logits = self.classifier(self.dropout(out.pooler_output)).view(b, c)
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return BertTaskOutput(logits, loss, hidden_states=out.hidden_states, attentions=out.attentions)
