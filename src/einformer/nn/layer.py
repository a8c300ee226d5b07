"""The Transformer's layers: self-attention, then a position-wise feed-forward network, each inside a
residual sub-layer; the decoder layer adds cross-attention to the encoder's output in between.

``TransformerLayer`` serves the paper's encoder layer (bidirectional, post-norm), BERT's layer (the
same), and GPT's block (``causal=True``, ``norm_first=True``). ``DecoderLayer`` is the paper's
decoder layer, used by the encoder-decoder and the Universal Transformer.

Each layer has two ways to run:
* ``forward`` on (B, T, D): training, the prompt, anything with several positions;
* ``step`` on (B, D): one new position per row while generating, with a key/value cache and the
  weights prepared by ``step_weights`` (once, and kept while they are unchanged) (query, key and value fused into one
  product, packed for oneDNN: ``nn/packed.py``). It is the same computation as ``forward`` on
  (B, 1, D) in fewer operations, held equal to it by tests for every layer option (pre- and
  post-norm, gated feed-forward, padding); eval mode only (no dropout).
"""

from __future__ import annotations

from torch import Tensor, nn

from .attention import MultiHeadAttention
from .feedforward import FeedForward
from .residual import Residual


class TransformerLayer(nn.Module):
    """(B, T, D) -> (B, T, D).

    Args:
        d_model, n_heads, d_ff: widths and heads.
        activation: of the feed-forward network.
        dropout: on each sub-layer's output; attention_dropout: on the attention weights.
        norm_first: pre-norm (GPT-2 and later) instead of the paper's post-norm.
        eps: LayerNorm epsilon; bias: biases in the linear maps.
        causal: each position attends only to itself and earlier ones (decoders).
        d_qk, d_v: per-head query/key and value widths (default, as in the paper, d_model / n_heads).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        *,
        activation: str = "relu",
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        norm_first: bool = False,
        eps: float = 1e-5,
        bias: bool = True,
        causal: bool = False,
        d_qk: int | None = None,
        d_v: int | None = None,
    ) -> None:
        super().__init__()
        self.causal = causal
        self.attn = MultiHeadAttention(d_model, n_heads, d_qk=d_qk, d_v=d_v, dropout=attention_dropout, bias=bias)
        self.ffn = FeedForward(d_model, d_ff, activation=activation, bias=bias)
        self.attn_block = Residual(d_model, norm_first=norm_first, dropout=dropout, eps=eps)
        self.ffn_block = Residual(d_model, norm_first=norm_first, dropout=dropout, eps=eps)

    def forward(self, x: Tensor, mask: Tensor | None = None, kv_cache=None, *, need_weights: bool = False):
        """x (B, T, D), mask as MultiHeadAttention's attention_mask -> (B, T, D), weights (B, H, T, S) or None."""
        h, weights = self.attn(
            self.attn_block.input(x),
            attention_mask=mask,
            is_causal=self.causal,
            kv_cache=kv_cache,
            need_weights=need_weights,
        )
        x = self.attn_block.add(x, h)
        x = self.ffn_block.add(x, self.ffn(self.ffn_block.input(x)))
        return x, weights

    def step(self, x: Tensor, kv_cache, keep: Tensor | None, w: dict) -> Tensor:
        """One new position per row: x (B, D) -> (B, D).

        Args:
            kv_cache: this layer's cache, holding the earlier positions; the new one is appended.
            keep: (B, 1, 1, S) boolean over the keys (left padding), or None for all of them.
            w: this layer's ``step_weights``.
        """
        if not self.causal:
            raise ValueError("step is for causal layers: a bidirectional layer's earlier positions see the new one")
        x = self.attn_block.add(x, self.attn.step(self.attn_block.input(x), kv_cache, keep, w["attn"]))
        return self.ffn_block.add(x, self.ffn.step(self.ffn_block.input(x), w["ffn"]))

    def step_weights(self, rows: int, *, pack: bool = True) -> dict:
        """The weights ``step`` multiplies by, prepared for about ``rows`` rows per call."""
        return {"attn": self.attn.step_weights(rows, pack=pack), "ffn": self.ffn.step_weights(rows, pack=pack)}


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention to the encoder output (memory), feed-forward.
    ``d_qk`` / ``d_v``: per-head widths of both attentions, as ``TransformerLayer``'s."""

    def __init__(
        self, *, d_model, n_heads, d_ff, dropout, attention_dropout, activation, norm_first, eps, d_qk=None, d_v=None
    ):
        super().__init__()
        widths = dict(d_qk=d_qk, d_v=d_v, dropout=attention_dropout)
        self.self_attn = MultiHeadAttention(d_model, n_heads, **widths)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, **widths)
        self.ffn = FeedForward(d_model, d_ff, activation=activation)
        self.self_block = Residual(d_model, norm_first=norm_first, dropout=dropout, eps=eps)
        self.cross_block = Residual(d_model, norm_first=norm_first, dropout=dropout, eps=eps)
        self.ffn_block = Residual(d_model, norm_first=norm_first, dropout=dropout, eps=eps)

    def forward(self, x, memory, memory_mask, *, self_cache=None, cross_cache=None, need_weights=False):
        """(B, T, D) and memory (B, S, D) -> (B, T, D), self weights (B, H, T, T'), cross (B, H, T, S)."""
        h, self_w = self.self_attn(
            self.self_block.input(x), is_causal=True, kv_cache=self_cache, need_weights=need_weights
        )
        x = self.self_block.add(x, h)
        h, cross_w = self.cross_attn(
            self.cross_block.input(x),
            memory,
            attention_mask=memory_mask,
            kv_cache=cross_cache,
            need_weights=need_weights,
        )
        x = self.cross_block.add(x, h)
        x = self.ffn_block.add(x, self.ffn(self.ffn_block.input(x)))
        return x, self_w, cross_w

    def step(self, x: Tensor, self_cache, cross_cache, memory_keep, w: dict, causal_keep=None) -> Tensor:
        """One new target position per row: x (B, D) -> (B, D).

        ``cross_cache`` must already hold the memory's keys and values (a ``forward`` with it filled
        them); ``memory_keep`` is (B, 1, 1, S) over the memory, or None when nothing is padding.
        ``x`` (B, T, D) checks T proposed positions at once, with ``causal_keep`` (1, 1, T, S') the
        causal mask over the self-attention cache and the new positions.
        """
        h = self.self_attn.step(self.self_block.input(x), self_cache, causal_keep, w["self"])
        x = self.self_block.add(x, h)
        x = self.cross_block.add(
            x, self.cross_attn.step(self.cross_block.input(x), cross_cache, memory_keep, w["cross"])
        )
        return self.ffn_block.add(x, self.ffn.step(self.ffn_block.input(x), w["ffn"]))

    def step_weights(self, rows: int, *, pack: bool = True) -> dict:
        return {
            "self": self.self_attn.step_weights(rows, pack=pack),
            "cross": self.cross_attn.step_weights(rows, cross=True, pack=pack),
            "ffn": self.ffn.step_weights(rows, pack=pack),
        }
