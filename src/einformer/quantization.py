"""``einformer.quantize(model, "int8" | "int4" | "w8a8")``: quantization through the module swap.

Every ``nn.Linear`` of the model becomes an ``Int8Linear`` or ``Int4Linear`` (``nn/quantized.py``);
the model's code is unchanged. int8 and int4 are weight-only; w8a8 keeps int8's weights and also
rounds each row of activations to 8 bits at every product (``nn/int8_dynamic.py``). Left as they
are unless asked: the token embeddings (a lookup, not a product) and, for int8 and int4, the output
projection ``lm_head`` (``lm_head=True`` quantizes it too; where it is tied to the embeddings the
tie is then undone; w8a8 quantizes it by default). The other floating parameters (norms, embeddings,
biases) are cast to ``dtype``: bf16 by default for int8 and int4, whose kernels take bf16
activations, and fp32 for w8a8, whose kernel takes fp32.

The model remembers how (``model.quantization_config``); ``save_pretrained`` writes it into
config.json beside the integers and scales, and ``from_pretrained`` / ``einformer.load`` rebuild the
quantized layers from it and load them without quantizing again (docs/quantization.md).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from . import dtypes
from .nn.packed import release
from .nn.quantized import GROUP_SIZES, METHODS, quantize_modules


@dataclasses.dataclass(frozen=True)
class QuantizationConfig:
    """How a model was quantized, as config.json's ``quantization_config`` records it.

    Args:
        method: "int8" (per output channel, symmetric), "int4" (per group, asymmetric) or "w8a8"
            (int8's weights, activations rounded to 8 bits per row when it runs).
        group_size: int4's inputs per scale and zero (32, 64 or 128); ignored by int8.
        modules: the names of the swapped layers, so a load swaps exactly those.
    """

    method: str
    group_size: int = 32
    modules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"quantization method {self.method!r} is not supported; choose one of {METHODS}")
        if self.method == "int4" and self.group_size not in GROUP_SIZES:
            raise ValueError(f"group_size={self.group_size} is not supported; choose one of {GROUP_SIZES}")

    def to_dict(self) -> dict:
        return {"quant_method": "einformer", "method": self.method, "group_size": self.group_size,
                "modules": list(self.modules)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict, source: str = "config.json") -> QuantizationConfig:
        if not isinstance(data, dict) or data.get("quant_method") != "einformer":
            raise ValueError(
                f"{source}: quantization_config {data!r} was not written by einformer.quantize; einformer reads "
                "its own int8 / int4 / w8a8 format only (load the unquantized weights and call einformer.quantize)"
            )
        return cls(data["method"], data.get("group_size", 32), tuple(data.get("modules", ())))


def quantize(
    model: nn.Module,
    method: str,
    *,
    group_size: int = 32,
    lm_head: bool | None = None,
    skip: tuple[str, ...] = (),
    dtype: torch.dtype | str | None = "auto",
) -> nn.Module:
    """Quantize ``model``'s linear layers in place and return it.

    Args:
        method: "int8" or "int4" (weight-only), or "w8a8": int8 weights, and activations rounded to
            8 bits per row at each product (``nn/int8_dynamic.py``; a departure from weight-only
            quantization, as llama.cpp's Q8_0 does).
        group_size: int4's group of inputs per scale and zero: 32 (the most accurate), 64 or 128. A
            layer whose input width is not a multiple of it is an error naming the layer.
        lm_head: quantize the output projection too. None: off for int8 and int4 (as gpt-fast keeps
            it wider), on for w8a8 (llama.cpp's Q8_0 files hold it in Q8_0 too).
        skip: more layer names to leave unquantized (a name covers the layers inside it).
        dtype: the type of everything left floating. "auto": bf16 for int8 and int4 (their kernels
            take bf16 activations), fp32 for w8a8 (its kernel takes fp32). None keeps theirs (fp32
            activations then take int8's and int4's widening fallback, not their kernels).
    """
    if getattr(model, "quantization_config", None) is not None:
        raise ValueError("this model is quantized already; load its unquantized weights to quantize it another way")
    config = QuantizationConfig(method, group_size)
    release(model)  # packed copies of the weights about to be replaced
    if isinstance(dtype, str):
        if dtype != "auto":
            raise ValueError(f"dtype={dtype!r}: pass a torch.dtype, None (keep the model's) or 'auto'")
        dtype = torch.float32 if method == "w8a8" else torch.bfloat16
    if dtype is not None:
        dtypes.cast(model, dtype)
    if lm_head is None:
        lm_head = method == "w8a8"
    skip = tuple(skip) + (() if lm_head else ("lm_head",))
    with torch.no_grad():
        swapped = quantize_modules(model, method, group_size=group_size, skip=skip)
    model.quantization_config = dataclasses.replace(config, modules=tuple(swapped))
    return model


def quantize_structure(model: nn.Module, config: QuantizationConfig) -> nn.Module:
    """Give ``model`` the empty quantized layers ``config`` names, to load a quantized checkpoint into."""
    wanted = set(config.modules)
    linears = {name for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    missing = sorted(wanted - linears)
    if missing:
        raise ValueError(f"quantization_config names layers the model does not have: {missing[:10]}")
    skip = tuple(sorted(linears - wanted))
    quantize_modules(model, config.method, group_size=config.group_size, skip=skip, empty=True)
    model.quantization_config = config
    return model
