"""Transformer-XL (Dai et al. 2019): a language model that remembers earlier segments.

Read top-down: TransformerXL -> TransformerXLLayer (relative attention over memory + segment,
feed-forward) -> ``einformer.nn.relative`` and ``einformer.nn.adaptive``.

A long text is fed in segments of T tokens. Every layer keeps, as memory, its input states of the
last ``mem_len`` positions of earlier segments (detached: no gradient flows into the past), and the
segment's queries attend to memory + segment. Positions are relative (distances i - j), so states
computed for one segment are still valid keys for the next. Memory is an explicit input and output:

    out = model(input_ids, mems=None)   # the first segment: memory starts empty
    out = model(next_ids, mems=out.mems)

``out.mems`` is a tuple with one (B, M, D) tensor per layer (batch first, like every einformer
tensor; the reference code keeps (M, B, D)). ``labels`` are aligned with ``input_ids`` (labels[:, t]
is the token after input_ids[:, t], as the reference code's targets): with segments, shifting inside
the model would leave the last token of every segment unscored. ``logits`` are log-probabilities
(the adaptive softmax produces those; with no cutoffs they are log_softmax of the logits) and, as
in Hugging Face's port, are only computed when no labels are given.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from ..config import TransformerXLConfig
from ..generation.generate import GenerationMixin
from ..generation.kinds import MemoryLM
from ..nn import Dropout, FeedForward, LayerNorm
from ..nn.adaptive import AdaptiveEmbedding, AdaptiveLogSoftmax
from ..nn.relative import RelativeMultiHeadAttention, memory_causal_mask, relative_encoding, relative_positions
from .base import PreTrainedModel


@dataclasses.dataclass
class TransformerXLOutput:
    logits: Tensor | None  # (B, T, V) log-probabilities, when no labels are given
    loss: Tensor | None = None  # mean NLL over labels that are not -100
    mems: tuple[Tensor, ...] | None = None
    hidden_states: tuple[Tensor, ...] | None = None  # the input of every layer, then the output
    attentions: tuple[Tensor, ...] | None = None  # one (B, H, T, M + T) tensor per layer


class TransformerXL(MemoryLM, GenerationMixin, PreTrainedModel):
    """(B, T) ids and the memory of earlier segments -> next-token log-probabilities and new memory."""

    config_class = TransformerXLConfig
    shifts_labels = False  # labels are the next tokens, aligned with input_ids

    def __init__(self, config: TransformerXLConfig) -> None:
        super().__init__(config)
        c = config
        self.embed = AdaptiveEmbedding(
            c.vocab_size, c.embed_dim, c.d_model, cutoffs=c.cutoffs, div_val=c.div_val, always_project=c.always_project
        )
        self.dropout = Dropout(c.dropout)
        self.layers = nn.ModuleList(
            TransformerXLLayer(
                c.d_model,
                c.n_heads,
                c.head_dim,
                c.d_ff,
                dropout=c.dropout,
                attention_dropout=c.attention_dropout,
                norm_first=c.norm_first,
                eps=c.layer_norm_eps,
                own_biases=c.untie_r,
            )
            for _ in range(c.n_layers)
        )
        if not c.untie_r:  # u and v shared by every layer (the reference default)
            self.u = nn.Parameter(torch.zeros(c.n_heads, c.head_dim))
            self.v = nn.Parameter(torch.zeros(c.n_heads, c.head_dim))
        final_norm = c.norm_first if c.final_norm is None else c.final_norm
        self.final_norm = LayerNorm(c.d_model, eps=c.layer_norm_eps) if final_norm else nn.Identity()
        per_cluster = not isinstance(c.tie_projs, bool)  # the reference's list: tied whatever tie_weight says
        self.softmax = AdaptiveLogSoftmax(
            c.vocab_size,
            c.embed_dim,
            c.d_model,
            cutoffs=c.cutoffs,
            div_val=c.div_val,
            tie_embedding=self.embed if c.tie_word_embeddings else None,
            tie_projections=c.tie_projs,
            embedding=self.embed if per_cluster else None,
            always_project=c.always_project,
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The reference code's normal init: N(0, init_std) weights and biases u, v; zero Linear biases."""
        std = self.config.init_std
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=std)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, RelativeBiases | TransformerXL) and hasattr(module, "u"):
                nn.init.normal_(module.u, std=std)
                nn.init.normal_(module.v, std=std)

    def forward(
        self,
        input_ids: Tensor,
        mems: tuple[Tensor, ...] | None = None,
        labels: Tensor | None = None,
        *,
        mem_len: int | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> TransformerXLOutput:
        """Args:
        input_ids: (B, T) the segment.
        mems: the previous call's ``.mems`` (None: empty memory).
        labels: (B, T) the next tokens, -100 = not scored.
        mem_len: how many positions the returned memory keeps (default ``config.mem_len``);
            evaluation may use a longer memory than training.
        output_attentions: every layer's weights, through the reference einsum path.
        """
        c = self.config
        mem_len = c.mem_len if mem_len is None else mem_len
        b, t = input_ids.shape
        if mems is None:  # "empty" (the reference code) or mem_len zero states ("zeros", Hugging Face's port)
            start = 0 if c.mem_init == "empty" else c.mem_len
            mems = tuple(self.embed.embeddings[0].weight.new_zeros(b, start, c.d_model) for _ in self.layers)
        if len(mems) != len(self.layers) or any(m.shape[0] != b for m in mems):
            raise ValueError(
                f"mems must be the previous output's .mems: {len(self.layers)} tensors of batch size {b}; "
                f"got {len(mems)} with batch sizes {[m.shape[0] for m in mems]}"
            )
        m = mems[0].shape[1]
        mask = memory_causal_mask(t, m, same_length=c.same_length, mem_len=mem_len, device=input_ids.device)
        distances = relative_positions(m + t, c.clamp_len, device=input_ids.device)
        r = self.dropout(relative_encoding(distances, c.d_model, self.embed.embeddings[0].weight.dtype))
        x = self.dropout(self.embed(input_ids))
        hidden, weights = [], []
        for layer, memory in zip(self.layers, mems, strict=True):
            hidden.append(x)
            u, v = (layer.biases.u, layer.biases.v) if c.untie_r else (self.u, self.v)
            x, w = layer(x, memory, r, u, v, mask, need_weights=output_attentions)
            weights.append(w)
        new_mems = update_memory(mems, hidden, mem_len)
        x = self.dropout(self.final_norm(x))
        logits = loss = None
        if labels is not None:
            nll = self.softmax.nll(x.reshape(b * t, -1), labels.reshape(-1))
            loss = nll.sum() / (labels != -100).sum().clamp(min=1)
        else:
            logits = self.softmax.log_probs(x)
        return TransformerXLOutput(
            logits,
            loss,
            new_mems,
            (*hidden, x) if output_hidden_states else None,
            tuple(weights) if output_attentions else None,
        )


def update_memory(mems: tuple[Tensor, ...], hidden: list[Tensor], mem_len: int) -> tuple[Tensor, ...]:
    """Each layer's new memory: the last ``mem_len`` of (old memory, this segment's input), detached."""
    with torch.no_grad():
        return tuple(
            torch.cat([m, h], dim=1)[:, max(0, m.shape[1] + h.shape[1] - mem_len) :].detach()
            for m, h in zip(mems, hidden, strict=True)
        )


class RelativeBiases(nn.Module):
    """A layer's own u and v (``untie_r=True``)."""

    def __init__(self, n_heads: int, d_head: int) -> None:
        super().__init__()
        self.u = nn.Parameter(torch.zeros(n_heads, d_head))
        self.v = nn.Parameter(torch.zeros(n_heads, d_head))


class TransformerXLLayer(nn.Module):
    """Relative attention over memory + segment, then the feed-forward network, each with a residual
    and a LayerNorm after (post-norm) or before (pre-norm). Pre-norm normalises the memory too (the
    reference code normalises memory + segment)."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_head: int,
        d_ff: int,
        *,
        dropout: float,
        attention_dropout: float,
        norm_first: bool,
        eps: float,
        own_biases: bool,
    ) -> None:
        super().__init__()
        self.attn = RelativeMultiHeadAttention(d_model, n_heads, d_head, attention_dropout=attention_dropout)
        self.ffn = FeedForward(d_model, d_ff, activation="relu", dropout=dropout)
        self.attn_norm = LayerNorm(d_model, eps=eps)
        self.ffn_norm = LayerNorm(d_model, eps=eps)
        self.dropout = Dropout(dropout)
        self.biases = RelativeBiases(n_heads, d_head) if own_biases else None
        self.norm_first = norm_first

    def forward(self, x, memory, r, u, v, mask, *, need_weights=False):
        """(B, T, D), memory (B, M, D) -> (B, T, D) and weights (B, H, T, M + T) or None."""
        if self.norm_first:
            if memory.shape[1]:
                memory = self.attn_norm(memory)
            h, weights = self.attn(self.attn_norm(x), memory, r, u, v, mask, need_weights=need_weights)
            x = x + self.dropout(h)
            x = x + self.dropout(self.ffn(self.ffn_norm(x)))
        else:
            h, weights = self.attn(x, memory, r, u, v, mask, need_weights=need_weights)
            x = self.attn_norm(x + self.dropout(h))
            x = self.ffn_norm(x + self.dropout(self.ffn(x)))
        return x, weights
