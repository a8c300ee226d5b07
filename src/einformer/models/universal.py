"""The Universal Transformer (Dehghani et al. 2019), with Adaptive Computation Time (Graves 2016).

Read top-down: UniversalTransformer -> ``recur`` (one shared layer applied step after step, with
ACT or a fixed number of steps) -> the encoder layer (``einformer.nn.TransformerLayer``) and the
decoder layer (``einformer.nn.DecoderLayer``) -> attention and feed-forward.

Where the vanilla Transformer stacks L different layers, the UT applies one layer again and again,
like an RNN in depth. Before every step t it adds a coordinate embedding (eq. 4 of the paper):

    P^t_(i, 2j) = sin(i / 10000^(2j/d)) + sin(t / 10000^(2j/d)),  P^t_(i, 2j+1) = the same with cos,

the usual position signal of position i plus the same sinusoid of the step number t = 1..T, so the
shared layer knows both where and when it is. Shapes: B batch, S source length, T target length,
D model width, V target vocabulary.

With ACT, each position stops when its halting unit says so (at most ``max_steps``); the model
returns every position's ponder count N and remainder R, and adds tau * (N + R), averaged over
positions, to the loss. Decoding runs the whole target prefix again for every new token: the
recurrence in depth with per-position halting has no per-layer key/value cache to reuse.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import UniversalTransformerConfig
from ..generation.generate import GenerationMixin
from ..generation.kinds import Seq2SeqLM
from ..nn import AdaptiveComputationTime, Dropout, LayerNorm, Linear, TokenEmbedding, decoder_layer, transformer_layer
from ..nn.embeddings import sinusoidal_table
from .base import PreTrainedModel
from .seq2seq import init_weights, layer_arguments, shift_right


@dataclasses.dataclass
class UniversalOutput:
    """``ponder_steps`` and ``remainders`` (B, S) are the encoder's per source position, ``decoder_*``
    (B, T) the decoder's; without ACT every real position takes ``max_steps`` with remainder 1."""

    logits: Tensor
    loss: Tensor | None = None
    ponder_steps: Tensor | None = None
    remainders: Tensor | None = None
    ponder_cost: Tensor | None = None  # encoder + decoder mean N + R (zero without ACT)
    decoder_ponder_steps: Tensor | None = None
    decoder_remainders: Tensor | None = None
    encoder_last_hidden_state: Tensor | None = None


@dataclasses.dataclass
class Recurrence:
    """What ``recur`` returns: the final states and the ponder statistics."""

    states: Tensor  # (B, L, D)
    steps: Tensor  # (B, L)
    remainders: Tensor  # (B, L)
    cost: Tensor  # scalar


class UniversalTransformer(Seq2SeqLM, GenerationMixin, PreTrainedModel):
    """Source ids (B, S) and target ids (B, T) -> next-token logits (B, T, V), and ponder maps."""

    config_class = UniversalTransformerConfig
    supports_cache = False  # the recurrence in depth, with per-position halting, has no key/value cache
    n_cached_layers = 0

    def __init__(self, config: UniversalTransformerConfig) -> None:
        super().__init__(config)
        c = config
        scale = math.sqrt(c.d_model)
        self.src_embed = TokenEmbedding(c.src_vocab_size, c.d_model, scale=scale, padding_idx=c.pad_token_id)
        self.tgt_embed = TokenEmbedding(c.tgt_vocab_size, c.d_model, scale=scale, padding_idx=c.pad_token_id)
        # rows 0..max_position-1 serve positions, rows 1..max_steps serve timesteps
        table = sinusoidal_table(max(c.max_position, c.max_steps + 1), c.d_model)
        self.register_buffer("signal", table, persistent=False)
        self.dropout = Dropout(c.dropout)
        layer_args = layer_arguments(c)
        self.encoder_layer = transformer_layer(**layer_args)
        self.decoder_layer = decoder_layer(**layer_args)
        act_args = dict(max_steps=c.max_steps, epsilon=c.act_epsilon, init_bias=c.act_init_bias, mode=c.act_mode)
        self.encoder_act = AdaptiveComputationTime(c.d_model, **act_args) if c.act else None
        self.decoder_act = AdaptiveComputationTime(c.d_model, **act_args) if c.act else None
        self.encoder_norm = LayerNorm(c.d_model, eps=c.layer_norm_eps) if c.norm_first else nn.Identity()
        self.decoder_norm = LayerNorm(c.d_model, eps=c.layer_norm_eps) if c.norm_first else nn.Identity()
        self.lm_head = Linear(c.d_model, c.tgt_vocab_size, bias=False)
        self.reset_parameters()
        if c.tie_word_embeddings:
            self.lm_head.weight = self.tgt_embed.weight

    def reset_parameters(self) -> None:
        """The encoder-decoder's init; the halting units keep their own (zero weights, positive bias)."""
        init_weights(self, [self.src_embed, self.tgt_embed], skip=("act.",))

    # ---------------------------------------------------------------- the recurrence
    def timing_signal(self, length: int, step: int) -> Tensor:
        """(length, D): the position signal of positions 0..length-1 plus the signal of step ``step``."""
        if length > self.config.max_position:
            raise ValueError(
                f"a sequence of {length} tokens is longer than max_position={self.config.max_position}; "
                "shorten it or build the model with a larger max_position"
            )
        return self.signal[:length] + self.signal[step]

    def recur(self, x: Tensor, layer, act: AdaptiveComputationTime | None, mask: Tensor) -> Recurrence:
        """Apply ``layer`` (B, L, D) -> (B, L, D) step after step with timing signals; mask (B, L) 1 = real."""

        def step(state: Tensor, n: int) -> Tensor:
            return layer(state + self.timing_signal(state.shape[1], n))

        if act is not None:
            states, steps, remainders, cost = act(x, step, mask=mask)
            return Recurrence(states, steps, remainders, cost)
        for n in range(1, self.config.max_steps + 1):
            x = step(x, n)
        real = mask.to(x.dtype)
        return Recurrence(x, real * self.config.max_steps, real, x.new_zeros(()))

    def encode(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Recurrence:
        """Source ids (B, S) -> memory (B, S, D) with the encoder's ponder statistics."""
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        x = self.dropout(self.src_embed(input_ids))
        out = self.recur(x, lambda h: self.encoder_layer(h, attention_mask)[0], self.encoder_act, mask)
        out.states = self.encoder_norm(out.states)
        return out

    def decode(self, decoder_input_ids: Tensor, memory: Tensor, memory_mask: Tensor | None = None):
        """Target ids (B, T) attending to memory (B, S, D) -> logits (B, T, V) and the decoder's Recurrence."""
        mask = decoder_input_ids != self.config.pad_token_id
        x = self.dropout(self.tgt_embed(decoder_input_ids))
        out = self.recur(x, lambda h: self.decoder_layer(h, memory, memory_mask)[0], self.decoder_act, mask)
        return self.lm_head(self.decoder_norm(out.states)), out

    def forward(self, input_ids, attention_mask=None, decoder_input_ids=None, labels=None) -> UniversalOutput:
        """Teacher-forced pass; the arguments are EncoderDecoderTransformer's.

        The loss is the cross-entropy plus ``ponder_weight`` times the encoder's and decoder's ponder costs.
        """
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("pass decoder_input_ids or labels (decoder inputs are labels shifted right)")
            decoder_input_ids = self.shift_right(labels)
        enc = self.encode(input_ids, attention_mask)
        logits, dec = self.decode(decoder_input_ids, enc.states, attention_mask)
        cost = enc.cost + dec.cost
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.flatten(0, 1).float(),
                labels.flatten(),
                ignore_index=-100,
                label_smoothing=self.config.label_smoothing,
            )
            loss = loss + self.config.ponder_weight * cost
        return UniversalOutput(logits, loss, enc.steps, enc.remainders, cost, dec.steps, dec.remainders, enc.states)

    def shift_right(self, labels: Tensor) -> Tensor:
        return shift_right(labels, self.config.pad_token_id, self.config.bos_token_id)

    # ---------------------------------------------------------------- generation (generation/decoders.py)
    def encoder_states(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Source ids (B, S) -> memory (B, S, D); the decoder re-reads its whole prefix every step."""
        return self.encode(input_ids, attention_mask).states
