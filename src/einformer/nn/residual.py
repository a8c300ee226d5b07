"""The residual sub-layer around attention and feed-forward, post-norm or pre-norm.

The paper (section 5.4) computes LayerNorm(x + Dropout(Sublayer(x))): *post-norm*. Most models
since GPT-2 compute x + Dropout(Sublayer(LayerNorm(x))): *pre-norm*, which trains more stably
without warm-up (Xiong et al. 2020). ``norm_first`` selects pre-norm.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from .dropout import Dropout


class Residual(nn.Module):
    """x -> x + dropout(fn(x)) with a LayerNorm after (post-norm) or before fn (pre-norm).

    Args:
        d_model: width normalised by the LayerNorm.
        norm_first: pre-norm when True; post-norm as in the paper when False.
        dropout: dropout on the sub-layer output while training.
        eps: LayerNorm epsilon.
    """

    def __init__(self, d_model: int, *, norm_first: bool = False, dropout: float = 0.0, eps: float = 1e-5):
        super().__init__()
        self.norm_first = norm_first
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, fn: Callable[[Tensor], Tensor]) -> Tensor:
        """(B, T, D) -> (B, T, D); ``fn`` is the sub-layer (attention or feed-forward)."""
        return self.add(x, fn(self.input(x)))

    def input(self, x: Tensor) -> Tensor:
        """What the sub-layer reads: LayerNorm(x) with pre-norm, x itself with post-norm. Any shape (..., D)."""
        if not self.norm_first:
            return x
        n = self.norm  # the functional call: a module call costs a few us per token in decoding
        return F.layer_norm(x, n.normalized_shape, n.weight, n.bias, n.eps)

    def add(self, x: Tensor, y: Tensor) -> Tensor:
        """The residual: x + dropout(y), then LayerNorm with post-norm. Any shape (..., D)."""
        if self.training and self.dropout.p > 0:  # no call when inactive
            y = self.dropout(y)
        if self.norm_first:
            return x + y
        n = self.norm
        return F.layer_norm(x + y, n.normalized_shape, n.weight, n.bias, n.eps)
