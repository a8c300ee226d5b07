"""Normalisation layers: the paper's LayerNorm and RMSNorm (Zhang & Sennrich 2019), the Llama family's.

LayerNorm(x) = (x - mean(x)) / sqrt(var(x) + eps) * w + b            (Ba et al. 2016)
RMSNorm(x)   = x / sqrt(mean(x^2) + eps) * w                          (no centring, no bias)

RMSNorm drops the mean: it costs less and, in the models that use it, trains as well. It computes
in fp32 (or wider) whatever the input's dtype and casts back before the weight, as transformers'
Llama does, so a bf16 model normalises the same way there and here. ``make_norm`` picks one by name, so a
layer is given its norm as a part (``TransformerLayer(attn_norm=...)``) rather than building it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

NORMS = ("layer", "rms")


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight over the last axis: (..., D) -> (..., D).

    Args:
        d_model: width D.
        eps: added to the mean square.
    """

    def __init__(self, d_model: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        wide = x.to(torch.promote_types(dtype, torch.float32))  # fp32 at least (fp64 stays fp64)
        wide = wide * torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * wide.to(dtype)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


def make_norm(kind: str, d_model: int, *, eps: float, bias: bool = True) -> nn.Module:
    """A norm by name: "layer" (``nn.LayerNorm``, with a bias unless ``bias=False``) or "rms"."""
    if kind == "layer":
        return nn.LayerNorm(d_model, eps=eps, bias=bias)
    if kind == "rms":
        return RMSNorm(d_model, eps=eps)
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")
