"""The Transformer layer: self-attention, then a position-wise feed-forward network, each inside a
residual sub-layer. One class serves the paper's encoder layer (bidirectional, post-norm), BERT's
layer (the same), and GPT's block (``causal=True``, ``norm_first=True``).
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
    ) -> None:
        super().__init__()
        self.causal = causal
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=attention_dropout, bias=bias)
        self.ffn = FeedForward(d_model, d_ff, activation=activation, bias=bias)
        self.attn_block = Residual(d_model, norm_first=norm_first, dropout=dropout, eps=eps)
        self.ffn_block = Residual(d_model, norm_first=norm_first, dropout=dropout, eps=eps)

    def forward(self, x: Tensor, mask: Tensor | None = None, kv_cache=None, *, need_weights: bool = False):
        """x (B, T, D), mask as MultiHeadAttention's attention_mask -> (B, T, D), weights (B, H, T, S) or None."""
        weights = None

        def attend(h):
            nonlocal weights
            out, weights = self.attn(
                h, attention_mask=mask, is_causal=self.causal, kv_cache=kv_cache, need_weights=need_weights
            )
            return out

        x = self.attn_block(x, attend)
        return self.ffn_block(x, self.ffn), weights
