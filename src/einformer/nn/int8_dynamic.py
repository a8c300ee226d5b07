"""W8A8: int8 weights times activations quantized to 8 bits per row at each call (``quantize(..., "w8a8")``).

Weight-only int8 (``Int8Linear``'s default) still multiplies in floating point: torch's
``_weight_int8pack_mm`` widens each weight before its product, so it is bound by its own arithmetic
rather than by the bytes it reads (docs/quantization.md). llama.cpp's Q8_0 and torchao's
``Int8DynamicActivationInt8WeightConfig`` go one step further: they also round the activations to
8-bit integers, one scale per row (token), so the product runs as integer dot products (VNNI on
x86) and only the result is scaled back.

Here the integer product is fbgemm's, through torch's ``quantized.linear_dynamic``. That operator
chooses one scale and zero point for its whole input; to get one scale per row, which a row's
result must not depend on what else is in the batch, each row is first divided by its largest
magnitude (so every row lies in [-1, 1]), and one extra row holding -1 and +1 is appended, which
pins the operator's range to exactly [-1, 1] whatever the batch holds. Every row is then rounded on
the same grid of 255 steps (127 on a CPU without VNNI, where fbgemm's 16-bit sums could saturate:
``reduce_range``; then only the step is coarser, and the extremes may round one step outward), and
its result is multiplied back by its own magnitude. Shapes: M rows, K = Din, N = Dout.

torch marks its quantized-tensor types as deprecated; the packed weight is made from them once per
layer (the warning is silenced there), and where the operators are gone ``available()`` is False and
the layer takes the weight-only kernel instead (announced by the caller).
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import Tensor


@functools.cache
def available() -> bool:
    """Whether this torch has the quantized operators and an engine for them on this CPU."""
    ops = getattr(torch.ops, "quantized", None)
    try:
        return (
            ops is not None
            and hasattr(ops, "linear_dynamic")
            and hasattr(ops, "linear_prepack")
            and torch.backends.quantized.engine != "none"
        )
    except RuntimeError:
        return False


@functools.cache
def reduce_range() -> bool:
    """7-bit activations unless the CPU has VNNI (whose dot products cannot saturate fbgemm's sums)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return True
    return not ("avx512_vnni" in flags or "avx_vnni" in flags)


def prepack(weight: Tensor, scales: Tensor):
    """fbgemm's packed form of ``weight`` (N, K) int8 with one fp32 scale per output channel (N,)."""
    zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():  # torch's deprecation notice for quantized tensors (see the module docstring)
        warnings.simplefilter("ignore")
        q = torch._make_per_channel_quantized_tensor(weight, scales.double(), zero_points, 0)
        return torch.ops.quantized.linear_prepack(q, None)


@functools.lru_cache(maxsize=64)
def _pin(width: int, device: torch.device) -> Tensor:
    """(1, K): -1 first, +1 last, zeros between (made once per width: read only)."""
    pin = torch.zeros(1, width, device=device)
    pin[0, 0], pin[0, -1] = -1.0, 1.0
    return pin


def linear(x: Tensor, packed) -> Tensor:
    """(M, K) float -> (M, N) fp32: each row rounded to 8 bits on its own scale, times the packed weight."""
    x = x.float()
    magnitude = x.abs().amax(dim=-1, keepdim=True).clamp_(min=torch.finfo(torch.float32).tiny)  # (M, 1)
    rows = torch.cat([x / magnitude, _pin(x.shape[-1], x.device)])  # (M + 1, K): the pin fixes the range
    y = torch.ops.quantized.linear_dynamic(rows, packed, reduce_range())  # (M + 1, N)
    return y[:-1] * magnitude  # (M, N)


def reference(x: Tensor, weight: Tensor, scales: Tensor) -> Tensor:
    """What ``linear`` computes, written out in fp32 (the tests' oracle): each row over its magnitude,
    rounded on the pinned grid as fbgemm rounds (times the fp32 inverse of the step, to the nearest
    even, plus the zero point, within uint8), then a plain product with the dequantized weight (N, K)."""
    x = x.float()
    levels = 127 if reduce_range() else 255  # the grid's steps across [-1, 1]
    step = torch.tensor(2.0 / levels, dtype=torch.float32)
    zero = round(levels / 2)  # -min / step, to the nearest even: 128 (or 64)
    magnitude = x.abs().amax(dim=-1, keepdim=True).clamp(min=torch.finfo(torch.float32).tiny)  # (M, 1)
    q = (torch.round(x / magnitude * (1 / step)) + zero).clamp(0, 255)  # (M, K)
    rounded = (q - zero) * step * magnitude  # (M, K)
    return rounded @ (weight.float() * scales.float()[:, None]).t()  # (M, N)
