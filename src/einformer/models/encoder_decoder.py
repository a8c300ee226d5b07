"""The encoder-decoder Transformer of "Attention Is All You Need" (Vaswani et al. 2017).

Read top-down: EncoderDecoderTransformer -> encoder layers (``einformer.nn.TransformerLayer``) and
decoder layers (below) -> attention and feed-forward blocks from ``einformer.nn``. The encoder reads
the whole source at once (self-attention with a padding mask); the decoder reads the target shifted
right, attending causally to itself and, in every layer, to the final encoder output
(cross-attention). Shapes: B batch, S source length, T target length, D model width, V target vocabulary.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import EncoderDecoderConfig
from ..generation.generate import GenerationMixin
from ..nn import (
    CrossAttentionCache,
    Dropout,
    DynamicCache,
    FeedForward,
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    Residual,
    SinusoidalPositionalEmbedding,
    StaticCache,
    TokenEmbedding,
    TransformerLayer,
)
from .base import PreTrainedModel


@dataclasses.dataclass
class Seq2SeqOutput:
    """Hugging Face field names; attentions are tuples with one (B, H, T, S) tensor per layer."""

    logits: Tensor
    loss: Tensor | None = None
    encoder_last_hidden_state: Tensor | None = None
    encoder_attentions: tuple[Tensor, ...] | None = None
    decoder_attentions: tuple[Tensor, ...] | None = None
    cross_attentions: tuple[Tensor, ...] | None = None


class EncoderDecoderTransformer(GenerationMixin, PreTrainedModel):
    """Source ids (B, S) and target ids (B, T) -> next-token logits (B, T, V)."""

    config_class = EncoderDecoderConfig
    is_encoder_decoder = True

    def __init__(self, config: EncoderDecoderConfig) -> None:
        super().__init__(config)
        c = config
        scale = math.sqrt(c.d_model)  # section 3.4: embeddings multiplied by sqrt(d_model)
        self.src_embed = TokenEmbedding(c.src_vocab_size, c.d_model, scale=scale, padding_idx=c.pad_token_id)
        self.tgt_embed = (
            self.src_embed
            if c.share_embeddings
            else TokenEmbedding(c.tgt_vocab_size, c.d_model, scale=scale, padding_idx=c.pad_token_id)
        )
        if c.positions == "sinusoidal":
            self.src_pos = self.tgt_pos = SinusoidalPositionalEmbedding(c.max_position, c.d_model)
        else:
            self.src_pos = LearnedPositionalEmbedding(c.max_position, c.d_model)
            self.tgt_pos = LearnedPositionalEmbedding(c.max_position, c.d_model)
        self.dropout = Dropout(c.dropout)
        layer_args = layer_arguments(c)
        self.encoder_layers = nn.ModuleList(TransformerLayer(**layer_args) for _ in range(c.n_encoder_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(**layer_args) for _ in range(c.n_decoder_layers))
        # pre-norm leaves the residual stream un-normalised: close each stack with a LayerNorm
        self.encoder_norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps) if c.norm_first else nn.Identity()
        self.decoder_norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps) if c.norm_first else nn.Identity()
        self.lm_head = nn.Linear(c.d_model, c.tgt_vocab_size, bias=False)
        self.reset_parameters()
        if c.tie_output:
            self.lm_head.weight = self.tgt_embed.weight

    def reset_parameters(self) -> None:
        # a list, not a set: a fixed order makes the same seed give the same model
        shared = self.tgt_embed is self.src_embed
        init_weights(self, [self.src_embed] if shared else [self.src_embed, self.tgt_embed])

    def encode(self, input_ids: Tensor, attention_mask: Tensor | None = None, *, need_weights: bool = False):
        """Source ids (B, S) -> memory (B, S, D) and, on request, per-layer self-attention weights."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.dropout(self.src_embed(input_ids) + self.src_pos(positions))
        weights = []
        for layer in self.encoder_layers:
            x, w = layer(x, attention_mask, need_weights=need_weights)
            weights.append(w)
        return self.encoder_norm(x), tuple(weights) if need_weights else None

    def decode(self, decoder_input_ids, memory, memory_mask=None, *, caches=None, need_weights=False):
        """Target ids (B, T) attending to memory (B, S, D) -> logits (B, T, V).

        ``caches`` = (self-attention cache, list of cross-attention caches); the new tokens sit
        after the ones already cached, and their positions continue from there.
        """
        start = 0 if caches is None else caches[0].length
        positions = torch.arange(start, start + decoder_input_ids.shape[1], device=decoder_input_ids.device)
        x = self.dropout(self.tgt_embed(decoder_input_ids) + self.tgt_pos(positions))
        self_w, cross_w = [], []
        for i, layer in enumerate(self.decoder_layers):
            self_cache, cross_cache = (None, None) if caches is None else (caches[0][i], caches[1][i])
            x, sw, cw = layer(
                x, memory, memory_mask, self_cache=self_cache, cross_cache=cross_cache, need_weights=need_weights
            )
            self_w.append(sw)
            cross_w.append(cw)
        logits = self.lm_head(self.decoder_norm(x))
        return logits, (tuple(self_w), tuple(cross_w)) if need_weights else (None, None)

    def forward(
        self, input_ids, attention_mask=None, decoder_input_ids=None, labels=None, *, output_attentions: bool = False
    ) -> Seq2SeqOutput:
        """Teacher-forced pass.

        Args:
            input_ids: (B, S) source ids; attention_mask: (B, S), 1 = token, 0 = padding.
            decoder_input_ids: (B, T) target ids starting with BOS; built from ``labels`` when omitted.
            labels: (B, T) next-token targets, -100 = ignored (padding).
            output_attentions: return every layer's weights (reference attention path).
        """
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("pass decoder_input_ids or labels (decoder inputs are labels shifted right)")
            decoder_input_ids = self.shift_right(labels)
        memory, enc_w = self.encode(input_ids, attention_mask, need_weights=output_attentions)
        logits, (dec_w, cross_w) = self.decode(
            decoder_input_ids, memory, attention_mask, need_weights=output_attentions
        )
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.flatten(0, 1).float(),
                labels.flatten(),
                ignore_index=-100,
                label_smoothing=self.config.label_smoothing,
            )
        return Seq2SeqOutput(logits, loss, memory, enc_w, dec_w, cross_w)

    def shift_right(self, labels: Tensor) -> Tensor:
        return shift_right(labels, self.config.pad_token_id, self.config.bos_token_id)

    def prompt_length(self, input_ids: Tensor) -> int:
        """Generation lengths count target tokens: the decoder prompt is the BOS token alone."""
        return 1

    def generation_inputs(self, input_ids, attention_mask, cache: str, max_length: int):
        """Encode the source once; the decoder starts from BOS."""
        memory, _ = self.encode(input_ids, attention_mask)
        prompt = torch.full(
            (input_ids.shape[0], 1), self.config.bos_token_id, dtype=torch.long, device=input_ids.device
        )
        return prompt, Seq2SeqDecoder(self, memory, attention_mask, cache, max_length)


def init_weights(model: nn.Module, embeddings: list[nn.Embedding], *, skip: tuple[str, ...] = ()) -> None:
    """Xavier-uniform matrices (as the reference tensor2tensor code), except embeddings and parameters
    whose names contain one of ``skip``; N(0, D^-1/2) embeddings with a zero padding row."""
    for name, p in model.named_parameters():
        if p.dim() > 1 and "embed" not in name and not any(part in name for part in skip):
            nn.init.xavier_uniform_(p)
    for emb in embeddings:
        nn.init.normal_(emb.weight, std=model.config.d_model**-0.5)
        with torch.no_grad():
            emb.weight[model.config.pad_token_id].zero_()


def layer_arguments(c) -> dict:
    """The keyword arguments of an encoder or decoder layer, read from a config with these fields."""
    return dict(
        d_model=c.d_model,
        n_heads=c.n_heads,
        d_ff=c.d_ff,
        dropout=c.dropout,
        attention_dropout=c.attention_dropout,
        activation=c.activation,
        norm_first=c.norm_first,
        eps=c.layer_norm_eps,
    )


def shift_right(labels: Tensor, pad_token_id: int, bos_token_id: int) -> Tensor:
    """(B, T) labels -> decoder inputs [BOS, y_1, ..., y_{T-1}], -100 read as padding."""
    shifted = labels.new_full(labels.shape, pad_token_id)
    shifted[:, 0] = bos_token_id
    shifted[:, 1:] = labels[:, :-1].masked_fill(labels[:, :-1] == -100, pad_token_id)
    return shifted


class Seq2SeqDecoder:
    """Generation state: encoder memory, its mask, and the decoder's caches (or none)."""

    def __init__(self, model, memory, memory_mask, cache, max_length):
        n = len(model.decoder_layers)
        self.model, self.memory, self.memory_mask = model, memory, memory_mask
        self.use_cache = cache != "none"
        self.tokens = None  # without a cache, the whole target so far is re-run every step
        self_cache = StaticCache(n, max_length) if cache == "static" else DynamicCache(n)
        self.caches = (self_cache, [CrossAttentionCache() for _ in range(n)]) if self.use_cache else None

    def step(self, tokens: Tensor) -> Tensor:
        """New target tokens (N, T_new) -> logits (N, V) for the last one."""
        if not self.use_cache:
            self.tokens = tokens if self.tokens is None else torch.cat([self.tokens, tokens], dim=1)
            tokens = self.tokens
        logits, _ = self.model.decode(tokens, self.memory, self.memory_mask, caches=self.caches)
        return logits[:, -1]

    def reorder(self, index: Tensor) -> None:
        self.memory = self.memory.index_select(0, index)
        if self.memory_mask is not None:
            self.memory_mask = self.memory_mask.index_select(0, index)
        if self.tokens is not None:
            self.tokens = self.tokens.index_select(0, index)
        if self.caches is not None:
            self.caches[0].reorder(index)
            for cross in self.caches[1]:
                cross.reorder(index)


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention to the encoder output, feed-forward."""

    def __init__(self, *, d_model, n_heads, d_ff, dropout, attention_dropout, activation, norm_first, eps):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=attention_dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout=attention_dropout)
        self.ffn = FeedForward(d_model, d_ff, activation=activation)
        self.self_block = Residual(d_model, norm_first=norm_first, dropout=dropout, eps=eps)
        self.cross_block = Residual(d_model, norm_first=norm_first, dropout=dropout, eps=eps)
        self.ffn_block = Residual(d_model, norm_first=norm_first, dropout=dropout, eps=eps)

    def forward(self, x, memory, memory_mask, *, self_cache=None, cross_cache=None, need_weights=False):
        """(B, T, D) and memory (B, S, D) -> (B, T, D), self weights (B, H, T, T'), cross (B, H, T, S)."""
        self_w = cross_w = None

        def self_attend(h):
            nonlocal self_w
            out, self_w = self.self_attn(h, is_causal=True, kv_cache=self_cache, need_weights=need_weights)
            return out

        def cross_attend(h):
            nonlocal cross_w
            out, cross_w = self.cross_attn(
                h, memory, attention_mask=memory_mask, kv_cache=cross_cache, need_weights=need_weights
            )
            return out

        x = self.self_block(x, self_attend)
        x = self.cross_block(x, cross_attend)
        return self.ffn_block(x, self.ffn), self_w, cross_w
