"""The encoder-decoder Transformer of "Attention Is All You Need" (Vaswani et al. 2017).

Read top-down: EncoderDecoderTransformer -> encoder layers (``einformer.nn.TransformerLayer``) and
decoder layers (``einformer.nn.DecoderLayer``) -> attention and feed-forward blocks from
``einformer.nn``. The encoder reads the whole source at once (self-attention with a padding
mask); the decoder reads the target shifted right, attending causally to itself and, in every
layer, to the final encoder output (cross-attention). Shapes: B batch, S source length, T target
length, D model width, V target vocabulary.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import EncoderDecoderConfig
from ..generation.generate import GenerationMixin
from ..generation.kinds import Seq2SeqLM
from ..nn import (
    Dropout,
    LayerNorm,
    LearnedPositionalEmbedding,
    Linear,
    SinusoidalPositionalEmbedding,
    TokenEmbedding,
    decoder_layer,
    transformer_layer,
)
from ..nn.masks import padding_keep
from .base import PreTrainedModel
from .seq2seq import init_weights, layer_arguments, shift_right


@dataclasses.dataclass
class Seq2SeqOutput:
    """Hugging Face field names; attentions are tuples with one (B, H, T, S) tensor per layer."""

    logits: Tensor
    loss: Tensor | None = None
    encoder_last_hidden_state: Tensor | None = None
    encoder_attentions: tuple[Tensor, ...] | None = None
    decoder_attentions: tuple[Tensor, ...] | None = None
    cross_attentions: tuple[Tensor, ...] | None = None


class EncoderDecoderTransformer(Seq2SeqLM, GenerationMixin, PreTrainedModel):
    """Source ids (B, S) and target ids (B, T) -> next-token logits (B, T, V)."""

    config_class = EncoderDecoderConfig
    flat_decoding = True  # a cached step's token passes the decoder layers as (B, D), as in decoder_only.py

    def __init__(self, config: EncoderDecoderConfig) -> None:
        super().__init__(config)
        c = config
        scale = math.sqrt(c.d_model) if c.scale_embedding else 1.0  # section 3.4: embeddings x sqrt(d_model)
        self.src_embed = TokenEmbedding(c.src_vocab_size, c.d_model, scale=scale, padding_idx=c.pad_token_id)
        self.tgt_embed = (
            self.src_embed
            if c.share_embeddings
            else TokenEmbedding(c.tgt_vocab_size, c.d_model, scale=scale, padding_idx=c.pad_token_id)
        )
        if c.positions == "sinusoidal":
            self.src_pos = self.tgt_pos = SinusoidalPositionalEmbedding(
                c.max_position, c.d_model, layout=c.sinusoid_layout
            )
        else:
            self.src_pos = LearnedPositionalEmbedding(c.max_position, c.d_model)
            self.tgt_pos = LearnedPositionalEmbedding(c.max_position, c.d_model)
        self.dropout = Dropout(c.dropout)
        layer_args = dict(layer_arguments(c), d_qk=c.d_qk, d_v=c.d_v)
        self.encoder_layers = nn.ModuleList(transformer_layer(**layer_args) for _ in range(c.n_encoder_layers))
        self.decoder_layers = nn.ModuleList(decoder_layer(**layer_args) for _ in range(c.n_decoder_layers))
        # pre-norm leaves the residual stream un-normalised: close each stack with a LayerNorm
        self.encoder_norm = LayerNorm(c.d_model, eps=c.layer_norm_eps) if c.norm_first else nn.Identity()
        self.decoder_norm = LayerNorm(c.d_model, eps=c.layer_norm_eps) if c.norm_first else nn.Identity()
        self.lm_head = Linear(c.d_model, c.tgt_vocab_size, bias=c.output_bias)
        self.reset_parameters()
        if c.tie_word_embeddings:
            self.lm_head.weight = self.tgt_embed.weight

    def reset_parameters(self) -> None:
        # a list, not a set: a fixed order makes the same seed give the same model
        shared = self.tgt_embed is self.src_embed
        init_weights(self, [self.src_embed] if shared else [self.src_embed, self.tgt_embed])
        if self.lm_head.bias is not None:  # Marian starts its final_logits_bias at zero
            nn.init.zeros_(self.lm_head.bias)

    def encode(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, *, need_weights: bool = False, hidden=None
    ):
        """Source ids (B, S) -> memory (B, S, D) and, on request, per-layer self-attention weights.
        ``hidden``: a list to append the embeddings and every layer's output to (the last normalised
        as the memory is), Hugging Face's ``encoder_hidden_states``."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.dropout(self.src_embed(input_ids) + self.src_pos(positions))
        weights, states = [], [x]
        for layer in self.encoder_layers:
            x, w = layer(x, attention_mask, need_weights=need_weights)
            weights.append(w)
            states.append(x)
        memory = self.encoder_norm(x)
        if hidden is not None:
            hidden += [*states[:-1], memory]
        return memory, tuple(weights) if need_weights else None

    def decode(self, decoder_input_ids, memory, memory_mask=None, *, cache=None, need_weights=False, hidden=None):
        """Target ids (B, T) attending to memory (B, S, D) -> logits (B, T, V).

        ``cache``: an ``EncoderDecoderCache``; the new tokens sit after the ones already cached, and
        their positions continue from there (its cross-attention caches are filled on first use).
        ``hidden``: a list to append the embeddings and every layer's output to, as ``encode``'s.
        """
        start = 0 if cache is None else cache.length
        positions = torch.arange(start, start + decoder_input_ids.shape[1], device=decoder_input_ids.device)
        x = self.tgt_embed(decoder_input_ids) + self.tgt_pos(positions)
        if self.training:
            x = self.dropout(x)
        keep = padding_keep(memory_mask)  # (B, 1, 1, S) or None, shared by every cross-attention
        self_w, cross_w, states = [], [], [x]
        # as decoder_only.py: a cached step's one position per row passes the layers as (B, D)
        flat = self.flat_decoding and x.shape[1] == 1 and cache is not None and not need_weights and hidden is None
        if flat:
            x = x.view(x.shape[0], x.shape[2])  # (B, 1, D) -> (B, D)
        for i, layer in enumerate(self.decoder_layers):
            self_cache, cross_cache = (None, None) if cache is None else cache.layer(i)
            x, sw, cw = layer(
                x, memory, keep, self_cache=self_cache, cross_cache=cross_cache, need_weights=need_weights
            )
            self_w.append(sw)
            cross_w.append(cw)
            states.append(x)
        x = self.decoder_norm(x)
        if hidden is not None:
            hidden += [*states[:-1], x]
        logits = self.lm_head(x).unsqueeze(1) if flat else self.lm_head(x)  # (B, 1, V) or (B, T, V)
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

    # ---------------------------------------------------------------- generation (generation/decoders.py)
    @property
    def n_cached_layers(self) -> int:
        return len(self.decoder_layers)

    def encoder_states(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Source ids (B, S) -> memory (B, S, D): what the decoder attends to."""
        return self.encode(input_ids, attention_mask)[0]
