"""The Transformer's layers: self-attention, then a position-wise feed-forward network, each inside a
residual connection; the decoder layer adds cross-attention to the encoder's output in between.

A layer is given its parts (torchtune's rule): the attention, the feed-forward network and the
norms are modules built elsewhere, so a model chooses LayerNorm or RMSNorm, a gated feed-forward,
grouped-query attention, rotary positions or an attention scale without the layer knowing.
``transformer_layer`` and ``decoder_layer`` build the usual parts from plain numbers.

The residual is written out in ``forward``, in the paper's two orders (``norm_first``):
* post-norm (the paper, section 5.4; BERT): x = Norm(x + Dropout(Sublayer(x)));
* pre-norm (GPT-2 and later, Xiong et al. 2020): x = x + Dropout(Sublayer(Norm(x))).

One ``forward`` serves training, a prompt, one new token and K proposed tokens: a key/value cache
holds the earlier positions. Decoding fast comes from swapping modules (``nn/packed.py``), not from a
second path.
"""

from __future__ import annotations

from torch import Tensor, nn

from .attention import MultiHeadAttention
from .dropout import Dropout
from .fast_call import FastCall
from .feedforward import FeedForward
from .norms import LayerNorm, make_norm


class TransformerLayer(FastCall, nn.Module):
    """(B, T, D) -> (B, T, D): self-attention and a feed-forward network, each with a residual.

    Args:
        attn: the self-attention (``MultiHeadAttention``).
        ffn: the position-wise network, (B, T, D) -> (B, T, D).
        attn_norm, ffn_norm: the norms of the two residual connections.
        norm_first: pre-norm (GPT-2 and later) instead of the paper's post-norm.
        dropout: on each sub-layer's output while training.
        ffn_dropout: on the feed-forward's output instead (default: ``dropout``); ModernBERT's is 0,
            its MLP drops inside, before its output map.
        causal: each position attends only to itself and earlier ones (decoders).
    """

    def __init__(
        self,
        *,
        attn: MultiHeadAttention,
        ffn: nn.Module,
        attn_norm: nn.Module,
        ffn_norm: nn.Module,
        norm_first: bool = False,
        dropout: float = 0.0,
        causal: bool = False,
        ffn_dropout: float | None = None,
    ) -> None:
        super().__init__()
        self.attn, self.attn_norm, self.ffn, self.ffn_norm = attn, attn_norm, ffn, ffn_norm
        self.norm_first, self.causal = norm_first, causal
        self.dropout = Dropout(dropout)
        self.ffn_dropout = None if ffn_dropout is None else Dropout(ffn_dropout)  # None: ``dropout``

    def forward(
        self, x: Tensor, mask: Tensor | None = None, kv_cache=None, *, position_ids=None, need_weights: bool = False
    ):
        """x (B, T, D), mask as MultiHeadAttention's attention_mask -> (B, T, D), weights (B, H, T, S) or None;
        x (B, D) is one position per row, as attention reads it (the decode step of a decoder model).

        ``kv_cache``: this layer's cache (earlier positions; the new ones are appended);
        ``position_ids`` (B, T): for rotary attention."""
        h, weights = self.attn(
            self.attn_norm(x) if self.norm_first else x,
            attention_mask=mask,
            is_causal=self.causal,
            kv_cache=kv_cache,
            position_ids=position_ids,
            need_weights=need_weights,
        )
        if self.training:  # no dropout call at inference: a decoded token passes here once per layer
            h = self.dropout(h)
        if self.norm_first:
            x = x + h
            h = self.ffn(self.ffn_norm(x))
        else:
            x = self.attn_norm(x + h)
            h = self.ffn(x)
        if self.training:
            h = (self.dropout if self.ffn_dropout is None else self.ffn_dropout)(h)
        return (x + h if self.norm_first else self.ffn_norm(x + h)), weights


class DecoderLayer(FastCall, nn.Module):
    """Causal self-attention, cross-attention to the encoder output (memory), feed-forward; each with
    a residual and a norm, as ``TransformerLayer``'s."""

    def __init__(
        self,
        *,
        self_attn: MultiHeadAttention,
        cross_attn: MultiHeadAttention,
        ffn: nn.Module,
        self_attn_norm: nn.Module,
        cross_attn_norm: nn.Module,
        ffn_norm: nn.Module,
        norm_first: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.self_attn, self.cross_attn, self.ffn = self_attn, cross_attn, ffn
        self.self_attn_norm, self.cross_attn_norm, self.ffn_norm = self_attn_norm, cross_attn_norm, ffn_norm
        self.norm_first = norm_first
        self.dropout = Dropout(dropout)

    def forward(self, x, memory, memory_mask, *, self_cache=None, cross_cache=None, need_weights=False):
        """(B, T, D) and memory (B, S, D) -> (B, T, D), self weights (B, H, T, T'), cross (B, H, T, S);
        x (B, D) is one position per row, as in ``TransformerLayer``.

        ``self_cache`` holds the earlier target positions; a filled ``cross_cache`` holds the
        memory's keys and values (the first call with it fills it)."""
        self_args = dict(is_causal=True, kv_cache=self_cache, need_weights=need_weights)
        cross_args = dict(attention_mask=memory_mask, kv_cache=cross_cache, need_weights=need_weights)
        if self.norm_first:
            h, self_w = self.self_attn(self.self_attn_norm(x), **self_args)
            x = x + self._drop(h)
            h, cross_w = self.cross_attn(self.cross_attn_norm(x), memory, **cross_args)
            x = x + self._drop(h)
            x = x + self._drop(self.ffn(self.ffn_norm(x)))
        else:
            h, self_w = self.self_attn(x, **self_args)
            x = self.self_attn_norm(x + self._drop(h))
            h, cross_w = self.cross_attn(x, memory, **cross_args)
            x = self.cross_attn_norm(x + self._drop(h))
            x = self.ffn_norm(x + self._drop(self.ffn(x)))
        return x, self_w, cross_w

    def _drop(self, h: Tensor) -> Tensor:
        return self.dropout(h) if self.training else h


def transformer_layer(
    d_model: int,
    n_heads: int,
    d_ff: int,
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    attention_dropout: float = 0.0,
    norm_first: bool = False,
    norm: str = "layer",
    eps: float = 1e-5,
    bias: bool = True,
    causal: bool = False,
    d_qk: int | None = None,
    d_v: int | None = None,
    n_kv_heads: int | None = None,
    scale: float | None = None,
) -> TransformerLayer:
    """A ``TransformerLayer`` with the usual parts, from plain numbers.

    Args:
        d_model, n_heads, d_ff: widths and heads; d_qk, d_v: per-head widths (default d_model / n_heads).
        activation: of the feed-forward network (a gated one: "swiglu", "geglu").
        dropout: on each sub-layer's output; attention_dropout: on the attention weights.
        norm_first: pre-norm; norm: "layer" or "rms"; eps: its epsilon; bias: in the linear maps
            (and the LayerNorms).
        causal: decoder self-attention; n_kv_heads: grouped-query attention; scale: of the scores.
    """
    attn = MultiHeadAttention(
        d_model,
        n_heads,
        d_qk=d_qk,
        d_v=d_v,
        n_kv_heads=n_kv_heads,
        dropout=attention_dropout,
        bias=bias,
        scale=scale,
    )
    return TransformerLayer(
        attn=attn,
        ffn=FeedForward(d_model, d_ff, activation=activation, bias=bias),
        attn_norm=make_norm(norm, d_model, eps=eps, bias=bias),
        ffn_norm=make_norm(norm, d_model, eps=eps, bias=bias),
        norm_first=norm_first,
        dropout=dropout,
        causal=causal,
    )


def decoder_layer(
    d_model: int,
    n_heads: int,
    d_ff: int,
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    attention_dropout: float = 0.0,
    norm_first: bool = False,
    eps: float = 1e-5,
    d_qk: int | None = None,
    d_v: int | None = None,
) -> DecoderLayer:
    """A ``DecoderLayer`` with LayerNorms and the paper's attention, from plain numbers (as
    ``transformer_layer``'s arguments)."""
    widths = dict(d_qk=d_qk, d_v=d_v, dropout=attention_dropout)
    return DecoderLayer(
        self_attn=MultiHeadAttention(d_model, n_heads, **widths),
        cross_attn=MultiHeadAttention(d_model, n_heads, **widths),
        ffn=FeedForward(d_model, d_ff, activation=activation),
        self_attn_norm=LayerNorm(d_model, eps=eps),
        cross_attn_norm=LayerNorm(d_model, eps=eps),
        ffn_norm=LayerNorm(d_model, eps=eps),
        norm_first=norm_first,
        dropout=dropout,
    )
