"""Rotary position embeddings (RoPE; Su et al. 2021), the position signal of Llama, Qwen and Mistral.

The paper's sinusoids are added to the token embeddings once; RoPE instead rotates each query and
key inside every attention layer. Pair the Dh dimensions of a head as (i, i + Dh/2) and read each
pair as a complex number z; at position m rotate it by the angle m * w_i:

    z_i -> z_i * exp(1j * m * w_i),      w_i = theta ^ (-2i / Dh)         (theta = 10000 by default)

A rotation keeps lengths, and the dot product of a query rotated by m with a key rotated by n
depends on m - n only: q(m) . k(n) = Re(sum_i q_i conj(k_i) exp(1j (m - n) w_i)). So attention
scores see relative offsets, while the cache keeps keys rotated once, by their own positions.
Transformer-XL (nn/relative.py) adds a learned relative term instead; RoPE has no parameters.

The scaling variants stretch a trained model's context by changing the frequencies w_i
(transformers' ``rope_type``):
* "default": as above;
* "linear" (position interpolation): every w_i / factor;
* "dynamic" (NTK-aware): past the original length L, theta grows to
  theta * (factor * S / L - (factor - 1)) ^ (Dh / (Dh - 2)) for a sequence of S positions;
* "llama3": low frequencies (wavelength above L / low_freq_factor) / factor, high ones kept, a
  smooth blend between;
* "yarn": a ramp between interpolated and original frequencies by rotation count, and the cos/sin
  scaled by an attention factor (0.1 ln(factor) + 1 by default).
``partial_rotary_factor`` < 1 rotates only the first fraction of each head's dimensions.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .fast_call import FastCall

ROPE_TYPES = ("default", "linear", "dynamic", "llama3", "yarn")


def inverse_frequencies(dim: int, theta: float, rope_type: str = "default", seq_len: int | None = None,
                        **scaling) -> tuple[Tensor, float]:  # fmt: skip
    """(w_i for i < dim / 2 as (dim / 2,) fp32, the cos/sin scale) for a rotated width ``dim``.

    ``scaling``: the variant's fields as transformers names them (factor, original_max_position_embeddings,
    low_freq_factor, high_freq_factor, beta_fast, beta_slow, attention_factor, mscale, mscale_all_dim,
    truncate); ``seq_len``: the current length, for "dynamic".
    """
    if rope_type not in ROPE_TYPES:
        raise ValueError(f"rope_type {rope_type!r} is not supported; choose one of {ROPE_TYPES}")
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).float() / dim  # (dim / 2,)
    if rope_type == "dynamic":
        original = scaling["original_max_position_embeddings"]
        length = max(seq_len or original, original)
        factor = scaling["factor"]
        theta = theta * ((factor * length / original) - (factor - 1)) ** (dim / (dim - 2))
    inv_freq = 1.0 / theta**exponents
    if rope_type == "linear":
        return inv_freq / scaling["factor"], 1.0
    if rope_type == "llama3":
        return _llama3(inv_freq, **scaling), 1.0
    if rope_type == "yarn":
        return _yarn(dim, theta, **scaling)
    return inv_freq, 1.0


def _llama3(inv_freq, *, factor, low_freq_factor, high_freq_factor, original_max_position_embeddings, **_):
    """Llama 3.1's: long wavelengths divided by ``factor``, short ones kept, a linear blend between."""
    wavelength = 2 * math.pi / inv_freq
    low, high = original_max_position_embeddings / low_freq_factor, original_max_position_embeddings / high_freq_factor
    scaled = torch.where(wavelength > low, inv_freq / factor, inv_freq)
    smooth = (original_max_position_embeddings / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelength >= high) & (wavelength <= low)
    return torch.where(medium, blended, scaled)


def _yarn(dim, theta, *, factor, original_max_position_embeddings, beta_fast=None, beta_slow=None,
          attention_factor=None, mscale=None, mscale_all_dim=None, truncate=True, **_):  # fmt: skip
    """YaRN (Peng et al. 2023): per-dimension blend of interpolation and extrapolation, and a scale."""

    def get_mscale(scale, m=1.0):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim)
        else:
            attention_factor = get_mscale(factor)
    beta_fast, beta_slow = beta_fast or 32, beta_slow or 1

    def dimension(rotations):  # the dimension index that turns ``rotations`` times over the original length
        return dim * math.log(original_max_position_embeddings / (rotations * 2 * math.pi)) / (2 * math.log(theta))

    low, high = dimension(beta_fast), dimension(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    high = high + 0.001 if low == high else high
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    base = theta ** (torch.arange(0, dim, 2).float() / dim)
    extrapolate = 1 - ramp  # 1: keep the original frequency, 0: interpolate it
    inv_freq = (1.0 / (factor * base)) * (1 - extrapolate) + (1.0 / base) * extrapolate
    return inv_freq, float(attention_factor)


def rotate_half(x: Tensor) -> Tensor:
    """(..., Dr) -> (..., Dr): the pairs (x_i, x_{i + Dr/2}) -> (-x_{i + Dr/2}, x_i), a 90-degree turn."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


class RotaryEmbedding(FastCall, nn.Module):
    """Rotates queries and keys by their positions: ``(q, k, position_ids) -> (q, k)``.

    One instance serves every layer of a model (it holds no parameters); the cos/sin of the last
    ``position_ids`` it saw are kept, so a forward computes them once, not once per layer.

    Args:
        head_dim: Dh, the per-head query/key width.
        theta: the base of the frequencies (``rope_theta``).
        rope_type: one of ``ROPE_TYPES``.
        partial_rotary_factor: rotate the first ``int(Dh * factor)`` dimensions only.
        scaling: the variant's fields, named as in transformers' ``rope_scaling`` / ``rope_parameters``.
    """

    def __init__(self, head_dim: int, *, theta: float = 10000.0, rope_type: str = "default",
                 partial_rotary_factor: float = 1.0, **scaling) -> None:  # fmt: skip
        super().__init__()
        self.dim = int(head_dim * partial_rotary_factor)
        if self.dim % 2 or self.dim < 2:
            raise ValueError(f"the rotated width head_dim x partial_rotary_factor = {self.dim} must be even and >= 2")
        self.theta, self.rope_type, self.scaling = theta, rope_type, scaling
        inv_freq, self.attention_factor = inverse_frequencies(self.dim, theta, rope_type, **scaling)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        # (position_ids, (its version, dtype), (cos, sin, signed sin), a copy of it under inference_mode)
        self._last: tuple | None = None

    def frequencies(self, position_ids: Tensor) -> Tensor:
        """w_i for this call: fixed, except "dynamic" past the original length (the longest position + 1)."""
        original = self.scaling.get("original_max_position_embeddings")
        if self.rope_type != "dynamic" or int(position_ids.max()) + 1 <= original:
            return self.inv_freq
        inv_freq, _ = inverse_frequencies(self.dim, self.theta, "dynamic", int(position_ids.max()) + 1, **self.scaling)
        return inv_freq.to(self.inv_freq.device)

    def cos_sin(self, position_ids: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """(B, T) positions -> cos, sin of shape (B, 1, T, Dr), computed in fp32 and cast to ``dtype``."""
        cos, sin, _ = self._tables(position_ids, dtype)
        return cos, sin

    def _tables(self, position_ids: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
        """cos, sin and the signed sin [-sin, sin] (its halves) for ``position_ids``, kept for the next call
        with the same ``position_ids`` unchanged (its version; under ``torch.inference_mode``, which
        keeps no versions, a copy of its values)."""
        if torch.compiler.is_compiling():  # a traced graph keeps nothing between calls (and a version is
            return self._compute(position_ids, dtype)  # a data-dependent value there: a graph break)
        inference = position_ids.is_inference()
        last, key = self._last, (None if inference else position_ids._version, dtype)
        if last is not None and last[0] is position_ids and last[1] == key:
            if not inference or torch.equal(last[3], position_ids):
                return last[2]
        tables = self._compute(position_ids, dtype)
        self._last = (position_ids, key, tables, position_ids.clone() if inference else None)
        return tables

    def _compute(self, position_ids: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
        angles = position_ids.float()[..., None] * self.frequencies(position_ids)  # (B, T, Dr / 2)
        angles = torch.cat([angles, angles], dim=-1)[:, None]  # (B, 1, T, Dr): pair i with i + Dr / 2
        cos = (angles.cos() * self.attention_factor).to(dtype)
        sin = (angles.sin() * self.attention_factor).to(dtype)
        # rotate_half(x) * sin = roll(x, Dr / 2) * [-sin, sin] (halves): two operators instead of four
        signed = torch.cat([-sin[..., : self.dim // 2], sin[..., self.dim // 2 :]], dim=-1)
        return cos, sin, signed

    def forward(self, q: Tensor, k: Tensor, position_ids: Tensor) -> tuple[Tensor, Tensor]:
        """q (B, H, T, Dh), k (B, Hkv, T, Dh), position_ids (B, T) or (1, T) -> rotated q, k."""
        if position_ids is None:
            raise ValueError("rotary attention needs position_ids (the model passes them to every layer)")
        cos, _, signed = self._tables(position_ids, q.dtype)
        return self._rotate(q, cos, signed), self._rotate(k, cos, signed)

    def _rotate(self, x: Tensor, cos: Tensor, signed: Tensor) -> Tensor:
        """x * cos + rotate_half(x) * sin, written as x * cos + roll(x, Dr / 2) * signed: the same bits
        (negating is exact: tests/nn/test_rotary.py), in 3 operators instead of 6: 24 -> 18 us a layer at one
        row (bench/rotary.py)."""
        if self.dim == x.shape[-1]:
            return x * cos + x.roll(self.dim // 2, -1) * signed
        turned, kept = x[..., : self.dim], x[..., self.dim :]
        return torch.cat([turned * cos + turned.roll(self.dim // 2, -1) * signed, kept], dim=-1)
