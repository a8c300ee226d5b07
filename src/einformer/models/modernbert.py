"""ModernBERT (Warner et al. 2024): a pre-norm encoder with rotary positions, GeGLU and no biases, whose
layers alternate between global attention and local (sliding-window) attention.

Read top-down: ModernBertModel -> Embeddings (token table, LayerNorm, dropout; no positions: they
enter inside attention, by rotation) -> layers (``einformer.nn.TransformerLayer``, pre-norm, given a
rotary attention, a GeGLU feed-forward and bias-free LayerNorms; the first layer's attention input is
not normed, its embeddings were just normed) -> final LayerNorm. A global layer rotates with
``global_rope_theta`` and sees every token; a local one rotates with ``local_rope_theta`` and sees the
tokens within ``local_attention // 2`` on each side (``nn.masks.local_window_keep``). The heads read
the token states through a dense -> activation -> LayerNorm head (Hugging Face's PredictionHead): the
masked-LM decoder (tied to the token table), and a classifier over the first token or the mean of the
real tokens, over every token, or into start and end logits.
Shapes: B batch, C choices, T tokens, D model width, V vocabulary.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config.modernbert import ModernBertConfig
from ..nn import Dropout, FeedForward, MultiHeadAttention, TransformerLayer, make_norm
from ..nn.feedforward import get_activation
from ..nn.masks import local_window_keep, merge_masks, padding_keep
from ..nn.rotary import RotaryEmbedding
from .bert import BertOutput, BertPreTrainedModel
from .bert_heads import BertTaskOutput, classification_loss, flat_choices, span_loss


class ModernBertPreTrainedModel(BertPreTrainedModel):
    """ModernBERT's init; loading, saving and head swaps as BERT's (the encoder is ``self.bert`` in a head)."""

    config_class = ModernBertConfig

    def init_weights(self) -> None:
        """Hugging Face's init, simplified: matrices and the token table from N(0, 0.02) cut at 2 sigma,
        zero biases, unit LayerNorms."""
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.trunc_normal_(module.weight, std=0.02, a=-0.04, b=0.04)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)


class ModernBertModel(ModernBertPreTrainedModel):
    """input_ids (B, T) -> last_hidden_state (B, T, D); no pooler."""

    def __init__(self, config: ModernBertConfig, add_pooling_layer: bool = False) -> None:
        super().__init__(config)
        c = config
        self.embeddings = Embeddings(c)
        # one rotary per layer kind (they hold no parameters): the base differs
        rotary = {
            "full_attention": RotaryEmbedding(c.head_dim, theta=c.global_rope_theta),
            "sliding_attention": RotaryEmbedding(c.head_dim, theta=c.local_rope_theta),
        }
        self.layers = nn.ModuleList(modernbert_layer(c, i, rotary[kind]) for i, kind in enumerate(c.layer_types))
        self.final_norm = make_norm("layer", c.d_model, eps=c.layer_norm_eps, bias=c.norm_bias)
        self.pooler = None  # the heads read the token states themselves
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
    ) -> BertOutput:
        """Args: input_ids, attention_mask (1 = token), position_ids (default 0..T-1 in every row, as
        Hugging Face's: rotations see offsets only, so padding on either side gives the same states),
        all (B, T). ModernBERT has no token types: ``token_type_ids`` must be None or zeros."""
        if token_type_ids is not None and bool(token_type_ids.any()):
            raise ValueError("ModernBERT has no token types; pass token_type_ids=None (or zeros)")
        t = input_ids.shape[1]
        if position_ids is None:
            position_ids = torch.arange(t, device=input_ids.device)[None]  # (1, T)
        x = self.embeddings(input_ids)
        masks = self.layer_masks(attention_mask, t, x.device)
        hidden, weights = [x], []
        for layer, mask in zip(self.layers, masks, strict=True):
            x, w = layer(x, mask, position_ids=position_ids, need_weights=output_attentions)
            hidden.append(x)
            weights.append(w)
        x = self.final_norm(x)
        hidden[-1] = x  # Hugging Face's last hidden state is the normed one
        return BertOutput(
            x, None, tuple(hidden) if output_hidden_states else None, tuple(weights) if output_attentions else None
        )

    def layer_masks(self, attention_mask: Tensor | None, t: int, device) -> list[Tensor | None]:
        """Per layer, by its kind: the padding keep-mask (B, 1, 1, T) or None (global), and with it the
        symmetric window (B or 1, 1, T, T) where the window is shorter than the sequence (local)."""
        padding = padding_keep(attention_mask)
        local, radius = padding, self.config.window_radius
        if t > radius + 1:
            local = merge_masks(padding, local_window_keep(radius, t, device))
        return [local if kind == "sliding_attention" else padding for kind in self.config.layer_types]


def modernbert_layer(c: ModernBertConfig, index: int, rotary: RotaryEmbedding) -> TransformerLayer:
    """One pre-norm layer: attention with fused-in rotary positions, GeGLU feed-forward, bias-free norms."""
    attn = MultiHeadAttention(c.d_model, c.n_heads, bias=c.attention_bias, dropout=c.attention_dropout, rotary=rotary)

    def norm() -> nn.Module:
        return make_norm("layer", c.d_model, eps=c.layer_norm_eps, bias=c.norm_bias)

    return TransformerLayer(
        attn=attn,
        ffn=FeedForward(c.d_model, c.d_ff, activation="geglu", dropout=c.mlp_dropout, bias=c.mlp_bias),
        attn_norm=norm() if index > 0 else nn.Identity(),  # the embeddings' norm serves the first layer
        ffn_norm=norm(),
        norm_first=True,
        dropout=c.attention_dropout,  # on the attention's output, as Hugging Face's out_drop
        ffn_dropout=0.0,  # the feed-forward drops inside (mlp_dropout)
    )


class Embeddings(nn.Module):
    """Token table -> LayerNorm -> dropout: (B, T) -> (B, T, D). No position table."""

    def __init__(self, c: ModernBertConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(c.vocab_size, c.d_model, padding_idx=c.pad_token_id)
        self.norm = make_norm("layer", c.d_model, eps=c.layer_norm_eps, bias=c.norm_bias)
        self.dropout = Dropout(c.dropout)

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.dropout(self.norm(self.word(input_ids)))


class PredictionHead(nn.Module):
    """dense -> activation -> LayerNorm: (..., D) -> (..., D), before every task's output layer."""

    def __init__(self, c: ModernBertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.d_model, c.d_model, bias=c.classifier_bias)
        self.act = get_activation(c.classifier_activation)
        self.norm = make_norm("layer", c.d_model, eps=c.layer_norm_eps, bias=c.norm_bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.act(self.dense(x)))


class MaskedLMHead(nn.Module):
    """The prediction head (as ``transform``, ``act``, ``norm``), then the decoder tied to the token table."""

    def __init__(self, c: ModernBertConfig, word: nn.Embedding) -> None:
        super().__init__()
        self.transform = nn.Linear(c.d_model, c.d_model, bias=c.classifier_bias)
        self.act = get_activation(c.classifier_activation)
        self.norm = make_norm("layer", c.d_model, eps=c.layer_norm_eps, bias=c.norm_bias)
        self.decoder = nn.Linear(c.d_model, c.vocab_size, bias=c.decoder_bias)
        self.decoder.weight = word.weight

    def forward(self, hidden: Tensor) -> Tensor:
        """(B, T, D) -> (B, T, V)."""
        return self.decoder(self.norm(self.act(self.transform(hidden))))


class ModernBertForMaskedLM(ModernBertPreTrainedModel):
    def __init__(self, config: ModernBertConfig) -> None:
        super().__init__(config)
        self.bert = ModernBertModel(config)
        self.mlm = MaskedLMHead(config, self.bert.embeddings.word)
        self.init_weights()
        self.mlm.decoder.weight = self.bert.embeddings.word.weight  # re-tie after init

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None, **extras):
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, **extras)
        logits = self.mlm(out.last_hidden_state)
        loss = None if labels is None else F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        return BertTaskOutput(logits, loss, hidden_states=out.hidden_states, attentions=out.attentions)


class TaskModel(ModernBertPreTrainedModel):
    """The encoder, the prediction head, dropout and a linear ``classifier`` of ``outputs`` per input."""

    def __init__(self, config: ModernBertConfig, outputs: int) -> None:
        super().__init__(config)
        self.bert = ModernBertModel(config)
        self.head = PredictionHead(config)
        self.dropout = Dropout(config.classifier_dropout or 0.0)
        self.classifier = nn.Linear(config.d_model, outputs)
        self.init_weights()

    def classify(self, x: Tensor) -> Tensor:
        """(..., D) -> (..., outputs)."""
        return self.classifier(self.dropout(self.head(x)))


def pool(hidden: Tensor, attention_mask: Tensor | None, how: str, *, first_real: bool = False) -> Tensor:
    """(B, T, D) -> (B, D): the first token ("cls"; with ``first_real`` the first real one, for left
    padding) or the mean over the real tokens ("mean")."""
    if how == "mean":
        if attention_mask is None:
            return hidden.mean(1)
        keep = attention_mask[..., None].to(hidden.dtype)  # (B, T, 1)
        return (hidden * keep).sum(1) / keep.sum(1)
    if first_real and attention_mask is not None:
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), attention_mask.argmax(-1)]
    return hidden[:, 0]


class ModernBertForSequenceClassification(TaskModel):
    def __init__(self, config: ModernBertConfig) -> None:
        super().__init__(config, config.num_labels)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None, **extras):
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, **extras)
        logits = self.classify(pool(out.last_hidden_state, attention_mask, self.config.classifier_pooling))
        loss = None if labels is None else classification_loss(logits, labels, self.config)
        return BertTaskOutput(logits, loss, hidden_states=out.hidden_states, attentions=out.attentions)


class ModernBertForTokenClassification(TaskModel):
    def __init__(self, config: ModernBertConfig) -> None:
        super().__init__(config, config.num_labels)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None, **extras):
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, **extras)
        logits = self.classify(out.last_hidden_state)  # (B, T, num_labels)
        loss = None if labels is None else F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        return BertTaskOutput(logits, loss, hidden_states=out.hidden_states, attentions=out.attentions)


class ModernBertForQuestionAnswering(TaskModel):
    """Start and end logits of the answer span; positions outside the sequence are ignored."""

    def __init__(self, config: ModernBertConfig) -> None:
        super().__init__(config, 2)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None,
                start_positions=None, end_positions=None, **extras):  # fmt: skip
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, **extras)
        start, end = self.classify(out.last_hidden_state).unbind(-1)  # (B, T) each
        return BertTaskOutput(
            loss=span_loss(start, end, start_positions, end_positions),
            start_logits=start,
            end_logits=end,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
        )


class ModernBertForMultipleChoice(TaskModel):
    """Inputs (B, C, T): one score per choice, from its first real token ("cls") or its mean ("mean")."""

    def __init__(self, config: ModernBertConfig) -> None:
        super().__init__(config, 1)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None, **extras):
        b, c, _ = input_ids.shape
        flat = flat_choices
        mask = flat(attention_mask)
        out = self.bert(flat(input_ids), mask, flat(token_type_ids), flat(position_ids), **extras)
        pooled = pool(out.last_hidden_state, mask, self.config.classifier_pooling, first_real=True)
        logits = self.classify(pooled).view(b, c)
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return BertTaskOutput(logits, loss, hidden_states=out.hidden_states, attentions=out.attentions)
