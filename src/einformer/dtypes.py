"""Which floating-point type a model's weights load and run in: names, "auto", and a warning.

``from_pretrained(dtype=...)``, ``einformer.load(dtype=...)``, ``pipeline(dtype=...)`` and the CLI's
``--dtype`` take a ``torch.dtype``, one of the names below, or "auto": the type config.json records
(Hugging Face's ``dtype``, formerly ``torch_dtype``), else the type the weights file stores. None
keeps einformer's default, fp32, whatever the file stores (as before this option existed).

What stays fp32 whatever the weights' type, as in transformers: the norms' statistics
(``nn/norms.py``), softmax over scores inside attention where the fused kernel accumulates in fp32,
rotary angles (``nn/rotary.py``), the loss (``models/decoder_only.py``) and the logits that search and
sampling read (``generation/search.py`` widens them).
"""

from __future__ import annotations

import json
import math
import struct
import warnings
from pathlib import Path

import torch

from .nn.rotary import RotaryEmbedding, inverse_frequencies

NAMES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}
# safetensors' names of the floating types
SAFETENSORS = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F64": torch.float64}
CHOICES = ("auto", "float32", "bfloat16", "float16")


def parse(dtype, torch_dtype=None) -> torch.dtype | str | None:
    """``dtype`` (or transformers' older spelling ``torch_dtype``) as a ``torch.dtype``, "auto" or None."""
    if torch_dtype is not None:
        if dtype is not None and parse(dtype) != parse(torch_dtype):
            raise ValueError(f"dtype={dtype!r} and torch_dtype={torch_dtype!r} disagree; pass dtype only")
        dtype = torch_dtype
    if dtype is None or isinstance(dtype, torch.dtype) and dtype in NAMES.values():
        return dtype
    if isinstance(dtype, str) and (dtype == "auto" or dtype.removeprefix("torch.") in NAMES):
        return dtype if dtype == "auto" else NAMES[dtype.removeprefix("torch.")]
    raise ValueError(f"dtype={dtype!r} is not supported; pass torch.float32, torch.bfloat16, torch.float16 or 'auto'")


def resolve(dtype, directory: Path, config: dict | None, weights: list[Path]) -> torch.dtype | None:
    """A parsed ``dtype`` with "auto" read from config.json's ``dtype`` / ``torch_dtype``, else from the
    weights files' headers (the floating type of most numbers), else fp32."""
    if dtype != "auto":
        return dtype
    recorded = (config or {}).get("dtype") or (config or {}).get("torch_dtype")
    if recorded is not None and recorded != "auto":
        return parse(recorded)
    for path in weights:
        if path.is_file():
            stored = stored_dtype(path)
            if stored is not None:
                return stored if stored != torch.float64 else torch.float32
    return torch.float32


def stored_dtype(path: Path) -> torch.dtype | None:
    """The floating type that holds most of a safetensors file's numbers, read from its JSON header."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    counts: dict[torch.dtype, int] = {}
    for key, entry in header.items():
        if key != "__metadata__" and entry["dtype"] in SAFETENSORS:
            kind = SAFETENSORS[entry["dtype"]]
            counts[kind] = counts.get(kind, 0) + math.prod(entry["shape"])
    return max(counts, key=counts.get) if counts else None


def name(dtype: torch.dtype) -> str:
    """torch.bfloat16 -> "bfloat16", the spelling config.json uses."""
    return str(dtype).removeprefix("torch.")


def warn_if_slow(dtype: torch.dtype | None, device) -> None:
    """fp16 has no fast CPU kernels on most x86 hosts (no AVX512-FP16): say so, and name bf16."""
    if dtype == torch.float16 and torch.device(device).type == "cpu":
        warnings.warn(
            "dtype=float16 on CPU: most x86 CPUs have no fp16 arithmetic, so products run slower than fp32; "
            "use dtype=torch.bfloat16 (same memory, fast where the CPU has AVX512-BF16 or AMX)",
            stacklevel=3,
        )


def of(module: torch.nn.Module) -> torch.dtype:
    """The type of a module's floating parameters (the first one's), fp32 when it has none."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)


def cast(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """``model.to(dtype)``, except the rotary frequencies, which stay fp32 (in bf16 a position's angle
    would be off by radians a few hundred tokens in; transformers keeps them fp32 too)."""
    model.to(dtype)
    for module in model.modules():
        if isinstance(module, RotaryEmbedding):
            inv_freq, _ = inverse_frequencies(module.dim, module.theta, module.rope_type, **module.scaling)
            module.register_buffer("inv_freq", inv_freq.to(module.inv_freq.device), persistent=False)
    return model
