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

from .fast_call import FastCall

NORMS = ("layer", "rms")


class LayerNorm(FastCall, nn.LayerNorm):
    """``nn.LayerNorm`` (the same parameters, state dict and result) whose forward calls the operator
    directly: torch's module goes through ``F.layer_norm``'s Python checks first, about 2.5 us a call,
    and a decoded token of the 6 x 384 GPT passes 13 norms (measured in bench/compare_versions.py)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class RMSNorm(FastCall, nn.Module):
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
        if (dtype == torch.float32 or dtype == torch.float64) and self.weight.dtype == dtype:
            # torch's operator computes the lines below in the same order: the same bits (tests/nn); on a
            # CPU it runs them itself, 10.7 us against 15.8 us a call at one row, 2 x 8 + 1 calls a Llama token
            return torch.rms_norm(x, self.weight.shape, self.weight, self.eps)
        wide = x.to(torch.promote_types(dtype, torch.float32))  # fp32 at least (fp64 stays fp64)
        wide = wide * torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * wide.to(dtype)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


def make_norm(kind: str, d_model: int, *, eps: float, bias: bool = True) -> nn.Module:
    """A norm by name: "layer" (``LayerNorm``, with a bias unless ``bias=False``) or "rms"."""
    if kind == "layer":
        return LayerNorm(d_model, eps=eps, bias=bias)
    if kind == "rms":
        return RMSNorm(d_model, eps=eps)
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")
