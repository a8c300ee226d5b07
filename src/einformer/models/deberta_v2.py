"""DeBERTa-v2 (and v3): BERT's post-norm encoder with disentangled attention (``nn/disentangled.py``).

Read top-down: DebertaV2Model -> Embeddings (word and token-type tables, absolute positions only if
``position_biased_input``, a projection when the embeddings are narrower, LayerNorm, padding zeroed)
-> the shared relative table (LayerNorm'd with ``norm_rel_embeddings``) -> layers, each a disentangled
self-attention and a feed-forward network with BERT's residuals. The heads are BERT's: masked LM
(Hugging Face's "legacy" head, ``cls.predictions``), token classification and question answering; the
sentence head is ``encoder_heads.py``'s (dropout -> dense -> ``pooler_activation`` -> dropout ->
classifier over [CLS], Hugging Face's ContextPooler). Shapes: B batch, T tokens, D model width.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import DebertaV2Config
from ..nn import Dropout, LayerNorm
from ..nn.disentangled import DisentangledSelfAttention, relative_positions
from ..nn.feedforward import FeedForward
from .bert import BertOutput, BertPreTrainedModel
from .bert_heads import BertForMaskedLM, BertForQuestionAnswering, BertForTokenClassification
from .encoder_heads import EncoderForMultipleChoice, EncoderForSequenceClassification


class DebertaV2Model(BertPreTrainedModel):
    """input_ids (B, T) -> last_hidden_state (B, T, D); no pooler."""

    config_class = DebertaV2Config

    def __init__(self, config: DebertaV2Config, add_pooling_layer: bool = False) -> None:
        super().__init__(config)
        c = config
        self.embeddings = Embeddings(c)
        span = c.relative_span
        self.rel_embeddings = nn.Embedding(2 * span, c.d_model) if c.relative_attention else None
        self.rel_norm = (
            LayerNorm(c.d_model, eps=c.layer_norm_eps) if c.relative_attention and c.norm_rel_embeddings else None
        )
        self.layers = nn.ModuleList(DebertaLayer(c) for _ in range(c.n_layers))
        self.pooler = None  # the sentence head reads [CLS] itself
        self.init_weights()

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        *,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        record: list | None = None,
    ) -> BertOutput:
        """Args as BertModel's; ``record``: a list that gets, per layer, a dict of its position terms."""
        c, t = self.config, input_ids.shape[1]
        if t > c.max_position:
            raise ValueError(
                f"sequence of {t} tokens is longer than max_position_embeddings={c.max_position}; truncate it"
            )
        x = self.embeddings(input_ids, token_type_ids, position_ids, attention_mask)
        relative = table = None
        if self.rel_embeddings is not None:
            relative = relative_positions(
                t, t, buckets=c.position_buckets, max_distance=c.max_distance, device=x.device
            )
            table = self.rel_embeddings.weight
            table = self.rel_norm(table) if self.rel_norm is not None else table  # (R, D)
        mask = attention_mask if attention_mask is not None and not bool(attention_mask.all()) else None
        hidden, weights = [x], []
        for layer in self.layers:
            terms = {} if record is not None else None
            x, w = layer(x, relative, table, mask, need_weights=output_attentions, record=terms)
            if record is not None:
                record.append(terms)
            hidden.append(x)
            weights.append(w)
        return BertOutput(
            x, None, tuple(hidden) if output_hidden_states else None, tuple(weights) if output_attentions else None
        )


class DebertaLayer(nn.Module):
    """x = Norm(x + Dropout(Attention(x))); x = Norm(x + Dropout(FFN(x))): BERT's post-norm residuals
    around the disentangled attention, which needs the relative distances and table besides x."""

    def __init__(self, c: DebertaV2Config) -> None:
        super().__init__()
        self.attn = DisentangledSelfAttention(
            c.d_model,
            c.n_heads,
            span=c.relative_span,
            terms=c.pos_att_type,
            share_att_key=c.share_att_key,
            dropout=c.attention_dropout,
            position_dropout=c.dropout,
        )
        self.attn_norm = LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.ffn = FeedForward(c.d_model, c.d_ff, activation=c.activation)
        self.ffn_norm = LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.dropout = Dropout(c.dropout)

    def forward(self, x, relative, table, mask, *, need_weights=False, record=None):
        h, weights = self.attn(x, relative, table, mask, need_weights=need_weights, record=record)
        x = self.attn_norm(x + self.dropout(h))
        x = self.ffn_norm(x + self.dropout(self.ffn(x)))
        return x, weights


class Embeddings(nn.Module):
    """word (+ absolute position) (+ token type) -> projection to D when narrower -> LayerNorm ->
    padding positions zeroed -> dropout (DeBERTa's order: the projection comes before the norm)."""

    def __init__(self, c: DebertaV2Config) -> None:
        super().__init__()
        e = c.d_embed
        self.word = nn.Embedding(c.vocab_size, e, padding_idx=c.pad_token_id)
        self.position = nn.Embedding(c.max_position, e) if c.position_biased_input else None
        self.token_type = nn.Embedding(c.type_vocab_size, e) if c.type_vocab_size else None
        self.project = nn.Linear(e, c.d_model, bias=False) if e != c.d_model else None
        self.norm = LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.dropout = Dropout(c.dropout)

    def forward(self, input_ids, token_type_ids=None, position_ids=None, attention_mask=None) -> Tensor:
        """(B, T) -> (B, T, D)."""
        x = self.word(input_ids)
        if self.position is not None:
            if position_ids is None:
                position_ids = torch.arange(input_ids.shape[1], device=input_ids.device)[None]
            x = x + self.position(position_ids)
        if self.token_type is not None:
            x = x + self.token_type(token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids))
        if self.project is not None:
            x = self.project(x)
        x = self.norm(x)
        if attention_mask is not None:
            x = x * attention_mask[..., None].to(x.dtype)
        return self.dropout(x)


class DebertaV2ForMaskedLM(BertForMaskedLM):
    config_class, encoder_class = DebertaV2Config, DebertaV2Model


class DebertaV2ForSequenceClassification(EncoderForSequenceClassification):
    config_class, encoder_class = DebertaV2Config, DebertaV2Model

    @classmethod
    def head_act(cls, config) -> str:
        return config.pooler_activation


class DebertaV2ForMultipleChoice(EncoderForMultipleChoice, DebertaV2ForSequenceClassification):
    """The ContextPooler head over [CLS] of each choice: one score each."""


class DebertaV2ForTokenClassification(BertForTokenClassification):
    config_class, encoder_class = DebertaV2Config, DebertaV2Model


class DebertaV2ForQuestionAnswering(BertForQuestionAnswering):
    config_class, encoder_class = DebertaV2Config, DebertaV2Model
