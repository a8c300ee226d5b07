"""Linear layers with weights pre-packed for oneDNN, for the few-row matrix products of decoding.

While generating, each step multiplies a handful of rows (batch x beams, one token each) by every
weight matrix. On x86 CPUs PyTorch sends fp32 ``F.linear`` to MKL's general GEMM, which handles
such short, wide products poorly: 8 rows through a 6-layer, 384-wide GPT take about twice as long
as 1 row, although the weights are read once either way. oneDNN, which PyTorch also ships, can
reorder a weight once into the blocked layout its kernels read fastest ("packing"), chosen for an
expected number of rows; the per-step product then runs close to the memory-bandwidth floor
(measured in bench/generate.py).

Speed comes by swapping modules, not by a second forward (gpt-fast's quantization handler is the
model): ``prepare_for_inference(model, rows)`` replaces each large ``nn.Linear`` by a
``PackedLinear`` that shares its parameters (state dict, optimizer and tied weights unchanged) and,
under ``torch.no_grad()`` on few rows, multiplies by a packed copy; and it gives every
self-attention one ``FusedLinear`` for its query, key and value (one product instead of three). Both
keep their packed copy only while their source parameters are the same tensors at the same
version: an optimizer step, ``load_state_dict``, ``.to()`` or an in-place edit under no_grad makes
them pack again at the next call (an edit through ``param.data`` escapes torch's version counter:
call ``release(model)`` after one). Copies and pickles of a model leave the packed copies behind.

That check costs about 2 us a call, 5-10% of a decoded token of a small model. Inside a generation
loop the weights do not change, so ``generate`` runs its loop under ``trusting()``: each packed layer
checks its sources at its first call in the loop and not again while the loop runs (a streamer given
to ``generate`` must leave the weights alone). ``stream_ids`` hands each token to its consumer, who
may change them, so it checks at every call as code outside a loop does.

This uses ``torch.ops.mkldnn._reorder_linear_weight`` and ``torch.ops.mkldnn._linear_pointwise``:
internal operators (the ones torch.compile's CPU weight freezing emits), not a documented API. So
packing checks that they exist and falls back to ``F.linear`` otherwise (no oneDNN, a GPU tensor, a
dtype other than fp32 or bf16, bf16 on a CPU without oneDNN's bf16 support, a torch without the operators).
A bf16 model packs its bf16 weights the same way (half the bytes streamed per token).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from copy import deepcopy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .fast_call import FastCall, Linear


def onednn_packing_available(weight: Tensor) -> bool:
    """Can ``weight`` be packed for oneDNN here (fp32, or bf16 where oneDNN supports it, on CPU, oneDNN
    built in, operators present)?"""
    ops = getattr(torch.ops, "mkldnn", None)
    return (
        weight.device.type == "cpu"
        and weight.dtype in (torch.float32, torch.bfloat16)
        and torch.backends.mkldnn.is_available()
        and ops is not None
        and hasattr(ops, "_reorder_linear_weight")
        and hasattr(ops, "_linear_pointwise")
        and (weight.dtype == torch.float32 or _bf16_supported())
    )


def _bf16_supported() -> bool:
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return check is not None and bool(check())


# Packing pays only for large enough matrices: oneDNN's call costs a fixed ~17 us here, MKL's
# F.linear ~4 us + the product. On this project's 2-core host (docs/generation.md) the 128-wide demo
# encoder-decoder (no matrix above 65,536 weights) decoded 0.91 ms/token packed and 0.51 plain, while
# the 6 x 384 GPT (147,456 weights and up) is faster packed at every batch size, 1 included.
PACK_MIN_WORK = 100_000

# The layout oneDNN picks for a 1-row hint suits only 1-row products: checking 6 proposed tokens
# through bench/generate.py's 6 x 384 GPT took 6.45 ms with it and 4.09 ms with a 16-row hint, and
# one row was no faster with it (4.27 vs 4.03 ms; docs/generation.md). So the hint is at least this.
PACK_MIN_ROWS = 16

# A prompt of many rows is a large product, where MKL's F.linear is as fast and needs no layout for
# it: the packed copy serves calls of at most this many rows.
PACK_MAX_ROWS = 64
_LINEAR = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)  # the op, looked up once


class _Trust(threading.local):
    """The generation loop now running in this thread (an object), or None: while it runs, a packed
    layer that checked its sources in it does not check them again."""

    session: object | None = None


_TRUST = _Trust()


@contextlib.contextmanager
def trusting() -> Iterator[None]:
    """Run the block as one generation loop: its weights do not change while it runs (a nested
    block joins the outer one)."""
    previous = _TRUST.session
    _TRUST.session = previous or object()
    try:
        yield
    finally:
        _TRUST.session = previous


class _Packed:
    """A weight (Dout, Din) and bias, packed for about ``rows`` rows; ``refresh`` rebuilds them.

    ``make``: () -> (weight, bias) from the owner's live parameters (a concatenation for a fused
    projection). The owner compares a ``key`` of those parameters' data pointers and versions with
    ``key`` at each call and refreshes on a difference. Plain Python, not a module: it is never saved,
    and a copy of it (``copy.deepcopy`` of the model) starts empty.
    """

    def __init__(self, make, rows: int, pack: bool) -> None:
        self.make, self.pack = make, pack
        self.rows = max(PACK_MIN_ROWS, rows)
        self.key, self.weight, self.bias, self.packed, self.max_numel = None, None, None, None, 0
        self.session = None  # the trusting() loop it last checked its sources in

    def check(self, key_of) -> None:
        """Refresh if the sources changed (``key_of()`` is their key); remember the running
        ``trusting()`` loop, in which the callers then skip this."""
        key = key_of()
        if key != self.key:  # new parameters, or changed in place: pack again
            self.refresh(key)
        self.session = _TRUST.session

    def refresh(self, key) -> None:
        """Copy (and pack) the sources again; ``key`` identifies them."""
        with torch.no_grad():
            self.weight, self.bias = self.make()
            worth = self.pack and self.weight.numel() >= PACK_MIN_WORK
            use = worth and onednn_packing_available(self.weight)
            self.packed = torch.ops.mkldnn._reorder_linear_weight(self.weight, self.rows) if use else None
            self.max_numel = PACK_MAX_ROWS * self.weight.shape[1]
        self.key = key

    def __call__(self, x: Tensor) -> Tensor:
        """(..., Din) -> (..., Dout) with the current copies (the owner refreshed them)."""
        if self.packed is None or x.dtype != self.weight.dtype or x.numel() > self.max_numel:
            return F.linear(x, self.weight, self.bias)
        return _LINEAR(x, self.packed, self.bias, "none", [], "")

    def __deepcopy__(self, memo):
        return _Packed(deepcopy(self.make, memo), self.rows, self.pack)

    def __getstate__(self):
        return {**self.__dict__, "key": None, "weight": None, "bias": None, "packed": None, "session": None}


def _key(linear: nn.Linear) -> tuple:
    """What identifies a linear layer's current parameters: the weight's storage and the versions
    (``.to()`` and ``load_state_dict(assign=True)`` change the first, in-place edits the others)."""
    w, b = linear.weight, linear.bias
    return w.data_ptr(), w._version, None if b is None else b._version


class PackedLinear(FastCall, nn.Linear):
    """An ``nn.Linear`` (the same parameter tensors) whose no-grad forward on at most ``PACK_MAX_ROWS``
    rows multiplies by a oneDNN-packed copy of its weight; with autograd, plain ``F.linear``."""

    @classmethod
    def from_linear(cls, linear: nn.Linear, rows: int) -> PackedLinear:
        module = cls.__new__(cls)
        nn.Module.__init__(module)
        module.in_features, module.out_features = linear.in_features, linear.out_features
        module.weight, module.bias = linear.weight, linear.bias  # shared, not copied
        module.training = linear.training
        module.kernel = _Packed(module._weights, rows, pack=True)
        return module

    def _weights(self):
        return self.weight.detach(), None if self.bias is None else self.bias.detach()

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled():
            return F.linear(x, self.weight, self.bias)
        kernel = self.kernel
        if kernel.session is not _TRUST.session or kernel.session is None:  # not yet checked in this loop
            kernel.check(self._key)
        return kernel(x)

    def _key(self) -> tuple:
        return _key(self)


class FusedLinear:
    """Several ``nn.Linear`` of one input as one product: x -> cat([l(x) for l in linears], -1).

    Attention's query, key and value projections read the same input; one (Dq + Dk + Dv, D) product
    instead of three saves two calls per layer and token. Made by ``prepare_for_inference`` for
    inference (no autograd); packed like ``PackedLinear`` when ``pack``. Quantized layers
    (``nn/quantized.py``) bring their own joined kernel (``fused_kernel``).
    """

    def __init__(self, linears: tuple[nn.Linear, ...], rows: int, *, pack: bool = True) -> None:
        self.linears = linears
        joined = next((lin.fused_kernel for lin in linears if hasattr(lin, "fused_kernel")), None)
        self.kernel = joined(linears, rows) if joined is not None else _Packed(self._weights, rows, pack)

    def _weights(self):
        weight = torch.cat([lin.weight.detach() for lin in self.linears])
        biased = self.linears[0].bias is not None
        return weight, torch.cat([lin.bias.detach() for lin in self.linears]) if biased else None

    def fits(self, rows: int, pack: bool) -> bool:
        """Was it made for this row hint and packing choice (else ``prepare_for_inference`` makes anew)?"""
        return self.kernel.rows == max(PACK_MIN_ROWS, rows) and self.kernel.pack == pack

    def __call__(self, x: Tensor) -> Tensor:
        """(..., D) -> (..., Dout_1 + Dout_2 + ...), the outputs side by side."""
        kernel = self.kernel
        if kernel.session is not _TRUST.session or kernel.session is None:  # not yet checked in this loop
            kernel.check(self._key)
        return kernel(x)

    def _key(self) -> tuple:
        return tuple(map(_key, self.linears))


def prepare_for_inference(model: nn.Module, rows: int = 1, *, pack: bool = True) -> nn.Module:
    """Swap ``model``'s linear layers for packed ones and fuse every self-attention's q/k/v, in place.

    Args:
        rows: the expected rows per call (batch x beams, x proposed tokens), a layout hint; any
            number of rows gives the same result.
        pack: False fuses q/k/v only and leaves every product to ``F.linear`` (the reference).

    Returns ``model``. Idempotent: a model prepared for other ``rows`` is re-prepared for these.
    The state dict, the parameters and training are unchanged (see the module docstring).
    """
    for module in list(model.modules()):
        fuse = getattr(module, "fuse_projections", None)
        if fuse is not None:
            fuse(rows, pack=pack)
        for name, child in list(module.named_children()):
            if type(child) in (nn.Linear, Linear) and pack and child.weight.numel() >= PACK_MIN_WORK:
                setattr(module, name, PackedLinear.from_linear(child, rows))
            elif isinstance(child, PackedLinear) and child.kernel.rows != max(PACK_MIN_ROWS, rows):
                child.kernel = _Packed(child._weights, rows, pack=True)
    return model


def release(model: nn.Module) -> nn.Module:
    """Undo ``prepare_for_inference``: plain ``nn.Linear`` again and no fused projections (their
    memory freed). The parameters are the same tensors throughout."""
    for module in list(model.modules()):
        unfuse = getattr(module, "fuse_projections", None)
        if unfuse is not None:
            module.fused = None
        for name, child in list(module.named_children()):
            if isinstance(child, PackedLinear):
                linear = Linear.__new__(Linear)
                nn.Module.__init__(linear)
                linear.in_features, linear.out_features = child.in_features, child.out_features
                linear.weight, linear.bias, linear.training = child.weight, child.bias, child.training
                setattr(module, name, linear)
    return model


def is_prepared(model: nn.Module) -> bool:
    """Has ``prepare_for_inference`` swapped or fused anything in ``model``?"""
    return any(isinstance(m, PackedLinear) or getattr(m, "fused", None) is not None for m in model.modules())
