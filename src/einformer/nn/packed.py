"""Linear layers with weights pre-packed for oneDNN, for the few-row matrix products of decoding.

While generating, each step multiplies a handful of rows (batch x beams, one token each) by every
weight matrix. On x86 CPUs PyTorch sends fp32 ``F.linear`` to MKL's general GEMM, which handles
such short, wide products poorly: 8 rows through a 6-layer, 384-wide GPT take about twice as long
as 1 row, although the weights are read once either way. oneDNN, which PyTorch also ships, can
reorder a weight once into the blocked layout its kernels read fastest ("packing"), chosen for an
expected number of rows; the per-step product then runs close to the memory-bandwidth floor
(measured in bench/generate.py).

This uses ``torch.ops.mkldnn._reorder_linear_weight`` and ``torch.ops.mkldnn._linear_pointwise``:
internal operators (the ones torch.compile's CPU weight freezing emits), not a documented API. So
``PackedLinear`` checks that they exist and fall back to ``F.linear`` otherwise (no oneDNN, a GPU
tensor, a dtype other than fp32, a torch without the operators). Packing copies the weight: call
it once per generation, not per step, and only under ``torch.no_grad()`` (no autograd through it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def onednn_packing_available(weight: Tensor) -> bool:
    """Can ``weight`` be packed for oneDNN here (fp32 on CPU, oneDNN built in, operators present)?"""
    ops = getattr(torch.ops, "mkldnn", None)
    return (
        weight.device.type == "cpu"
        and weight.dtype == torch.float32
        and torch.backends.mkldnn.is_available()
        and ops is not None
        and hasattr(ops, "_reorder_linear_weight")
        and hasattr(ops, "_linear_pointwise")
    )


# Packing pays only for large enough matrices: oneDNN's call costs a fixed ~17 us here, MKL's
# F.linear ~4 us + the product. On this project's 2-core host (docs/generation.md) the 128-wide demo
# encoder-decoder (no matrix above 65,536 weights) decoded 0.91 ms/token packed and 0.51 plain, while
# the 6 x 384 GPT (147,456 weights and up) is faster packed at every batch size, 1 included.
PACK_MIN_WORK = 100_000

# The layout oneDNN picks for a 1-row hint suits only 1-row products: checking 6 proposed tokens
# through bench/generate.py's 6 x 384 GPT took 6.45 ms with it and 4.09 ms with a 16-row hint, and
# one row was no faster with it (4.27 vs 4.03 ms; docs/generation.md). So the hint is at least this.
PACK_MIN_ROWS = 16


class PackedLinear:
    """``F.linear(x, weight, bias)`` with ``weight`` (Dout, Din) packed once for about ``rows`` rows.

    Args:
        weight: (Dout, Din) as in ``nn.Linear``.
        bias: (Dout,) or None.
        rows: the expected number of input rows per call (batch x beams, x proposed tokens when
            checking them); a hint for the layout, raised to ``PACK_MIN_ROWS``: any number of rows
            gives the same result.
        pack: False keeps plain ``F.linear`` (the reference the packed path is tested against).
        min_work: pack only a weight of at least this many elements (default ``PACK_MIN_WORK``).
    """

    def __init__(
        self, weight: Tensor, bias: Tensor | None, rows: int, *, pack: bool = True, min_work: int | None = None
    ) -> None:
        self.weight, self.bias = weight, bias
        self.packed = None
        worth = weight.numel() >= (PACK_MIN_WORK if min_work is None else min_work)
        if pack and worth and onednn_packing_available(weight):
            self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), max(PACK_MIN_ROWS, rows))

    def __call__(self, x: Tensor) -> Tensor:
        """(..., Din) -> (..., Dout)."""
        if self.packed is None or x.dtype != torch.float32:
            return F.linear(x, self.weight, self.bias)
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
