"""Weight-only quantized linear layers: int8 per output channel, int4 per group of inputs.

Decoding a token reads every weight once, so its time is bounded by the weights' bytes over the
memory bandwidth (bench/quantize.py prints that floor). Fewer bytes per weight lower the floor:
gpt-fast's ``WeightOnlyInt8Linear`` / ``WeightOnlyInt4Linear`` and llama.cpp's Q8_0 / Q4 formats store
integers and a few floating scales, and multiply without ever widening the whole matrix.

* ``Int8Linear``: W[n, k] = q[n, k] * s[n], q int8 in [-127, 127] (symmetric), one bf16 scale per
  output channel n (s = max|W[n]| / 127, rounded to bf16 before q is chosen, so the stored numbers
  are exactly the weight the layer multiplies by). With ``activations="int8"`` (method "w8a8") the
  activations are rounded to 8 bits per row too and the product is an integer one
  (``nn/int8_dynamic.py``); the stored weight is the same.
* ``Int4Linear``: W[n, k] = (q[n, k] - 8) * s[n, g] + z[n, g] with g = k // G, q in [0, 15]
  (asymmetric: z shifts each group's range), bf16 scales and zeros per group of G inputs (32, 64 or
  128); two 4-bit numbers per byte (``weight`` (N, K / 2) uint8, the even column in the low nibble).

They are swapped in for ``nn.Linear`` (``quantize_modules``, called by ``einformer.quantize``), like
``nn.packed.PackedLinear``: the model's code does not change. The state dict holds the portable
integers and scales above; a kernel's own layout (torch's packed int4) is made at the first call
and kept beside them, never saved.

Kernels (CPU; measured in docs/quantization.md): with bf16 activations and at most
``KERNEL_MAX_ROWS`` rows, torch's ``_weight_int8pack_mm`` and ``_weight_int4pack_mm_for_cpu``
(internal aten operators, checked for at the call); otherwise, or on another device, or without the
operators, the fallback widens the weight to the activations' dtype and calls ``F.linear`` (correct
everywhere, said once). Shapes: N = Dout, K = Din, G group size, M rows.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import int8_dynamic
from .fast_call import FastCall
from .packed import _Packed

METHODS = ("int8", "int4", "w8a8")  # w8a8: int8 weights, activations rounded to 8 bits per row (int8_dynamic)
GROUP_SIZES = (32, 64, 128)
# A long prompt is many rows: there the product is compute-bound and the integer kernels (made for a
# few rows) lose to widening the weight once and calling F.linear. Measured on one 2048 x 768 layer
# (docs/quantization.md), the kernels stay ahead up to 256 rows and fall behind by 512.
KERNEL_MAX_ROWS = 256
# torch's integer kernels read their operands with aligned vector loads; a tensor that safetensors
# hands out at an arbitrary offset inside the file's buffer crashes them (a segmentation fault), so
# loaded integers and scales are copied to memory of this alignment (torch's CPU allocator gives it).
ALIGNMENT = 64
_ATEN = torch.ops.aten


def _warn_fallback(kind: str, why: str) -> None:
    """Say once (Python's default warning filter) that ``kind`` runs by widening its weights."""
    warnings.warn(f"{kind}: {why}, so the layer widens its weights and calls F.linear (correct, slower)", stacklevel=3)


class QuantizedLinear(FastCall, nn.Module):
    """What both layers share: widths, an optional bias (a floating parameter), the fallback."""

    method = "none"

    def __init__(self, in_features: int, out_features: int, bias: bool, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.bias = nn.Parameter(torch.zeros(out_features, dtype=dtype), requires_grad=False) if bias else None

    def dequantize(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """The (N, K) weight the layer multiplies by, exactly (integers times scales, in fp32), cast to ``dtype``."""
        raise NotImplementedError

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Load as ``nn.Module`` does, then copy any buffer that lies off ``ALIGNMENT`` (see there)."""
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        for name, buffer in self._buffers.items():
            if buffer is not None and not buffer.is_meta and buffer.data_ptr() % ALIGNMENT:
                self._buffers[name] = buffer.clone()

    def forward(self, x: Tensor) -> Tensor:
        """(..., K) -> (..., N)."""
        rows = x.numel() // self.in_features
        why = self._no_kernel(x)
        if why is None and rows <= KERNEL_MAX_ROWS:
            y = self._kernel(x.reshape(rows, self.in_features)).reshape(*x.shape[:-1], self.out_features)
            return y if self.bias is None else y + self.bias.to(y.dtype)
        if why is not None:
            _warn_fallback(type(self).__name__, why)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.dequantize(x.dtype), bias)

    def _no_kernel(self, x: Tensor) -> str | None:
        """Why the fast kernel cannot serve ``x`` here, or None when it can."""
        raise NotImplementedError

    def _kernel(self, x: Tensor) -> Tensor:
        """(M, K) bf16 -> (M, N) bf16 through the integer kernel."""
        raise NotImplementedError

    def fused_kernel(self, linears: tuple[QuantizedLinear, ...], rows: int) -> _Packed:
        """One product for several layers of one input (``nn.packed.FusedLinear``, attention's q/k/v):
        their rows (output channels) stacked, each keeping its own scales."""
        return _Joined(linears, rows)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Int8Linear(QuantizedLinear):
    """y = x (q * s)^T + b: ``weight`` int8 (N, K), ``scales`` bf16 (N,). ``activations``: "float"
    (weight-only: x stays floating) or "int8" (W8A8: x rounded to 8 bits per row, ``nn/int8_dynamic.py``)."""

    method = "int8"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: torch.dtype | None = None,
        *,
        activations: str = "float",
    ):
        if activations not in ("float", "int8"):
            raise ValueError(f"activations={activations!r} is not supported; choose 'float' or 'int8'")
        super().__init__(in_features, out_features, bias, dtype)
        self.activations = activations
        self.register_buffer("weight", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("scales", torch.ones(out_features, dtype=torch.bfloat16))
        self._dynamic: tuple | None = None  # (key, fbgemm's packed weight) for activations="int8"

    @classmethod
    def from_linear(cls, linear: nn.Linear, activations: str = "float") -> Int8Linear:
        """Quantize ``linear``'s weight (any floating dtype) per output channel."""
        w = linear.weight.detach().float()  # (N, K)
        module = cls(
            linear.in_features, linear.out_features, linear.bias is not None, _dtype_of(linear), activations=activations
        )
        scales = (w.abs().amax(dim=1) / 127).clamp(min=torch.finfo(torch.bfloat16).tiny).bfloat16()  # (N,)
        module.weight.copy_((w / scales.float()[:, None]).round().clamp(-127, 127).to(torch.int8))
        module.scales.copy_(scales)
        if linear.bias is not None:
            module.bias.data.copy_(linear.bias.detach())
        return module

    def dequantize(self, dtype: torch.dtype = torch.float32) -> Tensor:
        return (self.weight.float() * self.scales.float()[:, None]).to(dtype)  # (N, K)

    def _no_kernel(self, x: Tensor) -> str | None:
        if x.device.type != "cpu":
            return f"no int8 kernel is wired for {x.device.type} here"
        if not hasattr(_ATEN, "_weight_int8pack_mm"):
            return "this torch has no aten._weight_int8pack_mm"
        return None if x.dtype == torch.bfloat16 else f"its activations are {x.dtype}, not torch.bfloat16"

    def _kernel(self, x: Tensor) -> Tensor:
        scales = self.scales if self.scales.dtype == x.dtype else self.scales.to(x.dtype)  # after a .to(dtype)
        return _ATEN._weight_int8pack_mm(x.contiguous(), self.weight, scales)

    def forward(self, x: Tensor) -> Tensor:
        """(..., K) -> (..., N); W8A8 when ``activations="int8"`` and its operators are here."""
        if self.activations != "int8":
            return super().forward(x)
        if x.device.type != "cpu" or not int8_dynamic.available():
            where = x.device.type if x.device.type != "cpu" else "this torch"
            _warn_fallback("Int8Linear (w8a8)", f"{where} has no 8-bit activation kernel; weight-only int8 instead")
            return super().forward(x)
        key = (self.weight.data_ptr(), self.weight._version, self.scales.data_ptr(), self.scales._version)
        if self._dynamic is None or self._dynamic[0] != key:
            self._dynamic = (key, int8_dynamic.prepack(self.weight, self.scales.float()))
        y = int8_dynamic.linear(x.reshape(-1, self.in_features), self._dynamic[1])  # (M, N) fp32
        y = y.to(x.dtype).reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias.to(y.dtype)

    def __getstate__(self):  # copies and pickles leave fbgemm's packed weight behind
        return {**self.__dict__, "_dynamic": None}

    def extra_repr(self) -> str:
        return super().extra_repr() + (", activations=int8" if self.activations == "int8" else "")


class Int4Linear(QuantizedLinear):
    """y = x ((q - 8) * s + z)^T + b per group of ``group_size`` inputs: ``weight`` uint8 (N, K / 2),
    ``scales`` and ``zeros`` bf16 (N, K / G)."""

    method = "int4"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: torch.dtype | None = None,
        *,
        group_size: int = 32,
    ):
        check_group(in_features, group_size)
        super().__init__(in_features, out_features, bias, dtype)
        self.group_size = group_size
        groups = in_features // group_size
        self.register_buffer("weight", torch.zeros(out_features, in_features // 2, dtype=torch.uint8))
        self.register_buffer("scales", torch.ones(out_features, groups, dtype=torch.bfloat16))
        self.register_buffer("zeros", torch.zeros(out_features, groups, dtype=torch.bfloat16))
        self._packed: tuple | None = None  # (key, torch's packed int4 weight, scales-and-zeros (K/G, N, 2))

    @classmethod
    def from_linear(cls, linear: nn.Linear, group_size: int = 32, name: str = "") -> Int4Linear:
        """Quantize ``linear``'s weight per group of ``group_size`` inputs (``name``: for the error)."""
        check_group(linear.in_features, group_size, name)
        n, k, g = linear.out_features, linear.in_features, group_size
        module = cls(k, n, linear.bias is not None, _dtype_of(linear), group_size=g)
        w = linear.weight.detach().float().reshape(n, k // g, g)  # (N, K/G, G)
        low, high = w.amin(dim=-1), w.amax(dim=-1)  # (N, K/G)
        scales = ((high - low) / 15).clamp(min=torch.finfo(torch.bfloat16).tiny).bfloat16()
        zeros = (low + 8 * scales.float()).bfloat16()  # the value of q = 8
        lowest = zeros.float() - 8 * scales.float()  # the value of q = 0, after rounding s and z
        q = ((w - lowest[..., None]) / scales.float()[..., None]).round().clamp(0, 15).to(torch.uint8)
        module.weight.copy_(pack_int4(q.reshape(n, k)))
        module.scales.copy_(scales)
        module.zeros.copy_(zeros)
        if linear.bias is not None:
            module.bias.data.copy_(linear.bias.detach())
        return module

    def unpacked(self) -> Tensor:
        """q (N, K) in [0, 15], uint8."""
        return unpack_int4(self.weight)

    def dequantize(self, dtype: torch.dtype = torch.float32) -> Tensor:
        n, k, g = self.out_features, self.in_features, self.group_size
        q = self.unpacked().float().reshape(n, k // g, g)  # (N, K/G, G)
        w = (q - 8) * self.scales.float()[..., None] + self.zeros.float()[..., None]
        return w.reshape(n, k).to(dtype)

    def _no_kernel(self, x: Tensor) -> str | None:
        if x.device.type != "cpu":
            return f"no int4 kernel is wired for {x.device.type} here"
        if not hasattr(_ATEN, "_weight_int4pack_mm_for_cpu"):
            return "this torch has no aten._weight_int4pack_mm_for_cpu"
        if self.out_features % 16:
            return f"torch's CPU int4 kernel needs out_features divisible by 16, not {self.out_features}"
        return None if x.dtype == torch.bfloat16 else f"its activations are {x.dtype}, not torch.bfloat16"

    def _kernel(self, x: Tensor) -> Tensor:
        key = (self.weight.data_ptr(), self.weight._version, self.scales.data_ptr(), self.scales._version,
               self.zeros.data_ptr(), self.zeros._version)  # fmt: skip
        if self._packed is None or self._packed[0] != key:
            packed = _ATEN._convert_weight_to_int4pack_for_cpu(self.unpacked().to(torch.int32), 1)
            scales_zeros = torch.stack([self.scales.t(), self.zeros.t()], dim=-1).to(torch.bfloat16)  # (K/G, N, 2)
            self._packed = (key, packed, scales_zeros)
        _, packed, scales_zeros = self._packed
        return _ATEN._weight_int4pack_mm_for_cpu(x.contiguous(), packed, self.group_size, scales_zeros)

    def __getstate__(self):  # copies and pickles leave the kernel's layout behind
        return {**self.__dict__, "_packed": None}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, group_size={self.group_size}"


def check_group(in_features: int, group_size: int, name: str = "") -> None:
    """int4 groups must tile the input width exactly."""
    if group_size not in GROUP_SIZES:
        raise ValueError(f"group_size={group_size} is not supported; choose one of {GROUP_SIZES}")
    if in_features % group_size:
        fits = [g for g in GROUP_SIZES if in_features % g == 0]
        raise ValueError(
            f"int4 layer {name or '(unnamed)'} has in_features={in_features}, not a multiple of group_size="
            f"{group_size}; "
            + (f"use group_size={fits[-1]}" if fits else "leave it unquantized (quantize(..., skip=[...]))")
        )


def pack_int4(q: Tensor) -> Tensor:
    """(N, K) integers in [0, 15] -> (N, K / 2) uint8, column 2j in the low nibble, 2j + 1 in the high."""
    q = q.to(torch.uint8)
    return q[:, 0::2] | (q[:, 1::2] << 4)


def unpack_int4(packed: Tensor) -> Tensor:
    """(N, K / 2) uint8 -> (N, K) in [0, 15]."""
    return torch.stack([packed & 0xF, packed >> 4], dim=-1).flatten(1)  # (N, K/2, 2) -> (N, K)


def _dtype_of(linear: nn.Linear) -> torch.dtype:
    return linear.weight.dtype if linear.weight.is_floating_point() else torch.float32


class _Joined(_Packed):
    """Quantized layers of one input as one quantized layer of stacked output channels (a fused
    q/k/v); rebuilt, as ``_Packed`` re-packs, when their integers change."""

    def __init__(self, linears: tuple[QuantizedLinear, ...], rows: int) -> None:
        super().__init__(None, rows, pack=True)
        self.linears, self.joined = linears, None

    def refresh(self, key) -> None:
        first = self.linears[0]
        same = isinstance(first, QuantizedLinear) and all(
            type(m) is type(first)
            and vars(m).get("group_size") == vars(first).get("group_size")
            and vars(m).get("activations") == vars(first).get("activations")
            for m in self.linears
        )
        self.joined = _stack(self.linears) if same else None
        self.key = key

    def __call__(self, x: Tensor) -> Tensor:
        if self.joined is None:  # layers of different formats (some left unquantized): one product each
            return torch.cat([m(x) for m in self.linears], dim=-1)
        return self.joined(x)

    def __deepcopy__(self, memo):
        return _Joined(self.linears, self.rows)

    def __getstate__(self):
        return {**self.__dict__, "key": None, "joined": None, "session": None}


@torch.no_grad()
def _stack(linears: tuple[QuantizedLinear, ...]) -> QuantizedLinear:
    """One layer whose output channels are the layers' side by side (every buffer stacks along N)."""
    first = linears[0]
    n = sum(m.out_features for m in linears)
    kw = {"group_size": first.group_size} if isinstance(first, Int4Linear) else {"activations": first.activations}
    biased = first.bias is not None
    joined = type(first)(first.in_features, n, biased, first.bias.dtype if biased else None, **kw)
    for name, buffer in joined.named_buffers():
        buffer.copy_(torch.cat([getattr(m, name) for m in linears]))
    if biased:
        joined.bias.copy_(torch.cat([m.bias for m in linears]))
    return joined


def quantize_modules(model: nn.Module, method: str, *, group_size: int = 32, skip=(), empty: bool = False) -> list[str]:
    """Swap every ``nn.Linear`` of ``model`` (names in ``skip``, and their sub-layers, aside) for
    ``Int8Linear`` ("int8"; "w8a8" with 8-bit activations) or ``Int4Linear`` ("int4"), in place; returns
    the swapped names. ``empty``: make the layers without quantizing (their buffers about to be loaded
    from a quantized checkpoint)."""
    if method not in METHODS:
        raise ValueError(f"quantization method {method!r} is not supported; choose one of {METHODS}")
    kw = {"group_size": group_size} if method == "int4" else {"activations": "int8" if method == "w8a8" else "float"}
    cls = Int4Linear if method == "int4" else Int8Linear
    swapped = []
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            full = f"{parent_name}.{name}" if parent_name else name
            if not isinstance(child, nn.Linear) or any(full == s or full.startswith(s + ".") for s in skip):
                continue
            if method == "int4":
                check_group(child.in_features, group_size, full)
            if empty:
                new = cls(child.in_features, child.out_features, child.bias is not None, _dtype_of(child), **kw)
            elif method == "int4":
                new = Int4Linear.from_linear(child, group_size, full)
            else:
                new = Int8Linear.from_linear(child, **kw)
            setattr(parent, name, new.train(child.training))
            swapped.append(full)
    return swapped
