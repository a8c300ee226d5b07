"""Scaled dot-product attention and multi-head attention.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_qk) + mask) V          (Vaswani et al. 2017, eq. 1)

Written twice: ``impl="einsum"`` spells the formula out with einops and can return the attention
weights; ``impl="sdpa"`` calls torch's fused kernel. Tests hold the two equal to 1e-10 in fp64.
Shape letters: B batch, H query heads, G query heads per key/value head, T queries, S keys,
Dqk query/key width, Dv value width, D model width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import einsum, rearrange
from torch import Tensor, nn

from .dropout import dropout
from .fast_call import FastCall, Linear
from .masks import causal_mask, expand_attention_mask, merge_masks, shared_causal_mask
from .packed import FusedLinear

IMPLS = ("auto", "einsum", "sdpa")


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: Tensor | None = None,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    scale: float | None = None,
    impl: str = "auto",
    return_weights: bool = False,
    record: dict | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """softmax(q k^T * scale + mask) v, for queries and keys of different lengths and widths.

    Args:
        q: (B, H, T, Dqk) queries.
        k: (B, Hkv, S, Dqk) keys; Hkv divides H (grouped-query attention when Hkv < H: query head
            i reads key/value head i // (H / Hkv)).
        v: (B, Hkv, S, Dv) values.
        mask: broadcastable to (B, H, T, S); boolean (True = may attend) or additive float.
        is_causal: add a causal mask aligned bottom-right, so with T < S the T queries are the
            last T positions (decoding with a key/value cache).
        dropout_p: dropout on the attention weights.
        scale: multiplies the scores; default 1 / sqrt(Dqk).
        impl: "einsum" (readable reference), "sdpa" (torch's fused kernel), or "auto" (sdpa unless
            the weights are requested).
        return_weights: also return the (B, H, T, S) attention weights (einsum path only).
        record: a dict that the einsum path fills with every intermediate of the formula: "dots"
            q k^T (B, H, T, S), "scale", "scaled" (dots * scale), "mask" (the keep-mask or additive
            mask applied, causal included, or None), "scores" (scaled and masked), "weights" and
            "heads" (the output).
            ``explain/steps.py`` shows them in the explorer's step view.

    Returns:
        (B, H, T, Dv) output, or (output, weights) when ``return_weights``. A query whose keys are
        all masked gets a zero output and zero weights, never NaN.
    """
    t, s = q.shape[-2], k.shape[-2]
    if t == 1 and impl in ("auto", "sdpa") and not return_weights and record is None and dropout_p == 0.0:
        # The decode step: one query, the last position, sees every key, so no causal mask; the
        # general path's checks and branches below cost about 6 us a call, 5% of a decoded token of
        # the 6 x 384 GPT. Tests hold this branch to the einsum reference.
        if mask is not None and mask.is_floating_point():
            mask = mask.to(q.dtype)
        gqa = k.shape[1] != q.shape[1]
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=gqa)
    _check_inputs(q, k, v, mask)
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    if impl == "auto":
        impl = "einsum" if return_weights or record is not None else "sdpa"
    if impl == "sdpa" and (return_weights or record is not None):
        raise ValueError("impl='sdpa' cannot return attention weights; use impl='einsum' or 'auto'")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    if is_causal and t == 1:  # one query, the last position: it sees every key, no mask needed
        is_causal = False
    # torch's fused kernels have no dropout on a CPU: there the math runs here, with a cheaper mask
    cpu_dropout = impl == "sdpa" and dropout_p > 0.0 and q.device.type == "cpu"
    if is_causal and not (impl == "sdpa" and not cpu_dropout and mask is None and t == s):
        keep = shared_causal_mask(t, s, q.device) if record is None else causal_mask(t, s, device=q.device)
        mask = merge_masks(mask, keep)  # a recorded mask is the caller's to keep: never the shared one
        is_causal = False
    if mask is not None and mask.is_floating_point():
        mask = mask.to(q.dtype)
    if cpu_dropout:
        return _cpu_dropout_attention(q, k, v, mask, dropout_p, scale)
    if impl == "sdpa":
        return F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=dropout_p,
            is_causal=is_causal,
            scale=scale,
            enable_gqa=k.shape[1] != q.shape[1],
        )
    out, weights = _einsum_attention(q, k, v, mask, dropout_p, scale, record)
    return (out, weights) if return_weights else out


def _einsum_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout_p: float, scale: float, record: dict | None = None
) -> tuple[Tensor, Tensor]:
    """The reference: every step of the formula on its own line (``record`` keeps each one)."""
    groups = q.shape[1] // k.shape[1]
    q = rearrange(q, "b (h g) t d -> b h g t d", g=groups)
    dots = rearrange(einsum(q, k, "b h g t d, b h s d -> b h g t s"), "b h g t s -> b (h g) t s")
    scores = scaled = dots * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    # A row with every key masked would give softmax(-inf, ..., -inf) = NaN; give it zero weights
    # instead (as torch's fused kernel does), without letting a NaN into the backward pass.
    dead = torch.isneginf(scores).all(dim=-1, keepdim=True)  # (B, H, T, 1)
    weights = scores.masked_fill(dead, 0.0).softmax(dim=-1).masked_fill(dead, 0.0)
    weights = dropout(weights, dropout_p)
    weights_g = rearrange(weights, "b (h g) t s -> b h g t s", g=groups)
    out = rearrange(einsum(weights_g, v, "b h g t s, b h s d -> b h g t d"), "b h g t d -> b (h g) t d")
    if record is not None:
        record.update(dots=dots, scale=scale, scaled=scaled, mask=mask, scores=scores, weights=weights, heads=out)
    return out, weights


def _cpu_dropout_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout_p: float, scale: float
) -> Tensor:
    """Training with attention dropout on a CPU, where torch's fused kernels have no dropout and
    fall back to this same math with a dearer mask (``nn/dropout.py`` says why); causality is in ``mask``."""
    if k.shape[1] != q.shape[1]:  # grouped heads: key/value head i serves query heads i*G .. i*G+G-1
        k, v = (x.repeat_interleave(q.shape[1] // k.shape[1], dim=1) for x in (k, v))
    scores = (q * scale) @ k.transpose(-2, -1)  # (B, H, T, S)
    dead = None  # rows with every key masked get zero weights (as the fused kernel does)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
        # found on the mask, which is smaller than the scores
        dead = ~mask.any(dim=-1, keepdim=True) if mask.dtype == torch.bool else torch.isneginf(mask).all(-1, True)
        dead = dead if bool(dead.any()) else None
    if dead is None:
        weights = scores.softmax(dim=-1)
    else:
        weights = scores.masked_fill(dead, 0.0).softmax(dim=-1).masked_fill(dead, 0.0)
    return dropout(weights, dropout_p) @ v


def _check_inputs(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> None:
    """Raise ValueError naming the shapes when q, k, v and mask do not fit together."""
    shapes = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
    if not q.dim() == k.dim() == v.dim() == 4:
        raise ValueError(f"q, k, v must be 4-d (batch, heads, length, width); got {shapes}")
    if q.shape[0] != k.shape[0] or k.shape[0] != v.shape[0]:
        raise ValueError(f"q, k, v must share the batch size; got {shapes}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys must have the same width Dqk; got {shapes}")
    if k.shape[1] != v.shape[1] or k.shape[2] != v.shape[2]:
        raise ValueError(f"keys and values must have the same heads and length; got {shapes}")
    if q.shape[1] % k.shape[1] != 0:
        raise ValueError(f"key/value heads must divide query heads; got {shapes}")
    if mask is not None:
        full = (q.shape[0], q.shape[1], q.shape[2], k.shape[2])
        try:
            ok = torch.broadcast_shapes(mask.shape, full) == full
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to (B, H, T, S) = {full}")


class MultiHeadAttention(FastCall, nn.Module):
    """Multi-head attention with separate query, key and value widths.

    Projects queries to ``n_heads`` heads of width ``d_qk`` and keys/values to ``n_kv_heads`` heads
    of widths ``d_qk`` and ``d_v``, attends per head, and projects the concatenated heads back to
    ``d_model``. ``n_kv_heads < n_heads`` is grouped-query attention (1 = multi-query).

    One ``forward`` serves training, a prompt, one new token and K proposed tokens: with a
    ``kv_cache`` the new keys and values are appended and the queries attend to all of them. With a
    ``kv_cache``, a 2-D ``query`` (B, D) is one decoded position per row (T = 1), and the output is
    then (B, D) too: a decoder model passes a cached step's token through its layers that way,
    because oneDNN's packed product (``nn/packed.py``) reshapes a 3-D input at about 3 us a call
    (docs/generation.md). Without a cache a 2-D query is refused: torch reads (L, E) as one sequence.

    Args:
        d_model: width of the query input and of the output.
        n_heads: number of query heads.
        d_qk: per-head query/key width; default d_model // n_heads.
        d_v: per-head value width; default d_model // n_heads.
        kv_dim: width of the key input (cross-attention from a sequence of another width);
            default d_model.
        value_dim: width of the value input; default kv_dim.
        n_kv_heads: number of key/value heads; default n_heads.
        bias: biases in the four projections (``out_bias`` overrides it for the output one).
        out_bias: bias in the output projection; default ``bias``.
        dropout: dropout on the attention weights while training.
        scale: multiplies the scores; default 1 / sqrt(d_qk), the paper's.
        q_norm, k_norm: a norm over each head's query / key width (Qwen3's qk-norm), or None.
        rotary: rotary position embeddings, called as ``rotary(q, k, position_ids) -> (q, k)`` on
            (B, H, T, Dqk) heads before the cache; None for models whose positions are added to the
            embeddings.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        d_qk: int | None = None,
        d_v: int | None = None,
        kv_dim: int | None = None,
        value_dim: int | None = None,
        n_kv_heads: int | None = None,
        bias: bool = True,
        out_bias: bool | None = None,
        dropout: float = 0.0,
        scale: float | None = None,
        q_norm: nn.Module | None = None,
        k_norm: nn.Module | None = None,
        rotary: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if n_heads < 1:
            raise ValueError(f"n_heads must be at least 1, got {n_heads}")
        if (d_qk is None or d_v is None) and d_model % n_heads != 0:
            raise ValueError(
                f"n_heads={n_heads} does not divide d_model={d_model}; choose n_heads dividing d_model "
                "or give the per-head widths d_qk and d_v explicitly"
            )
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        if n_kv_heads < 1 or n_heads % n_kv_heads != 0:
            raise ValueError(f"n_kv_heads={n_kv_heads} must divide n_heads={n_heads}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.n_heads, self.n_kv_heads = n_heads, n_kv_heads
        self.d_qk = d_model // n_heads if d_qk is None else d_qk
        self.d_v = d_model // n_heads if d_v is None else d_v
        self.d_model = d_model
        self.kv_dim = d_model if kv_dim is None else kv_dim
        self.value_dim = self.kv_dim if value_dim is None else value_dim
        self.dropout, self.scale = dropout, scale
        self.q_proj = Linear(d_model, n_heads * self.d_qk, bias=bias)
        self.k_proj = Linear(self.kv_dim, n_kv_heads * self.d_qk, bias=bias)
        self.v_proj = Linear(self.value_dim, n_kv_heads * self.d_v, bias=bias)
        self.out_proj = Linear(n_heads * self.d_v, d_model, bias=bias if out_bias is None else out_bias)
        self.q_norm, self.k_norm, self.rotary = q_norm, k_norm, rotary
        # q, k and v as one product for inference, made by nn/packed.prepare_for_inference (not saved)
        self.fused: FusedLinear | None = None
        # a list to append each forward's intermediates to (with need_weights): explain/steps.py
        self.recorder: list[dict] | None = None

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        attention_mask: Tensor | None = None,
        is_causal: bool = False,
        kv_cache=None,
        position_ids: Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value`` (self-attention when both are None).

        Args:
            query: (B, T, d_model), or (B, d_model) for one decoded position per row (with ``kv_cache``).
            key: (B, S, kv_dim); default ``query``.
            value: (B, S, value_dim); default ``key``.
            attention_mask: (B, S) padding mask, 1 = keep (S counts cached keys too), or a
                (B, T, S) / (B, H, T, S) mask: bool/integer = keep-mask, float = additive.
            is_causal: causal masking, aligned so the T queries are the last T positions.
            kv_cache: a layer cache from ``einformer.nn.kv_cache``; new keys/values are appended
                and attention runs over all of them. A filled cross-attention cache is reused
                without projecting ``key``/``value`` again.
            position_ids: (B, T) or (1, T) positions of the queries, for ``rotary``.
            need_weights: also return the (B, H, T, S) weights (reference einsum path).

        Returns:
            (output (B, T, d_model) or, for a 2-D query, (B, d_model); weights (B, H, T, S) or None).
        """
        flat = query.dim() == 2  # (B, D): one decoded position per row
        if key is not None or value is not None or query.dim() not in (2, 3) or query.shape[-1] != self.d_model:
            self._check_widths(query, key, value)
        if flat and kv_cache is None:
            raise ValueError(
                f"a 2-D query {tuple(query.shape)} is one decoded position per row and needs the layer's kv_cache; "
                "for one unbatched sequence pass query[None] (batch, length, d_model)"
            )
        batch, t = query.shape[0], 1 if flat else query.shape[1]
        frozen = kv_cache is not None and kv_cache.frozen  # cross-attention memory, projected once
        q, k, v = self._heads(query, key, value, frozen, t)  # (B, H, T, Dqk), (B, Hkv, S, Dqk), (B, Hkv, S, Dv)
        if self.q_norm is not None:
            q = self.q_norm(q)
        if frozen:
            k, v = kv_cache.keys, kv_cache.values
        else:
            if self.k_norm is not None:
                k = self.k_norm(k)
            if self.rotary is not None:
                q, k = self.rotary(q, k, position_ids)
            if kv_cache is not None:
                k, v = kv_cache.update(k, v)
        mask = None
        if attention_mask is not None:
            mask = expand_attention_mask(attention_mask, batch, t, k.shape[2])
        record = {} if need_weights and self.recorder is not None else None
        result = scaled_dot_product_attention(
            q,
            k,
            v,
            mask=mask,
            is_causal=is_causal,
            dropout_p=self.dropout if self.training else 0.0,
            scale=self.scale,
            return_weights=need_weights,
            record=record,
        )
        out, weights = result if need_weights else (result, None)
        if flat:  # (B, H, 1, Dv) -> (B, H * Dv): with one position, the heads side by side without a transpose
            out = out.reshape(batch, self.n_heads * self.d_v)
        else:  # (B, H, T, Dv) -> (B, T, H, Dv) -> (B, T, H * Dv)
            out = out.transpose(1, 2).reshape(batch, t, self.n_heads * self.d_v)
        projected = self.out_proj(out)
        if record is not None:
            key_input = query if key is None else key
            record.update(query_input=query, key_input=key_input, q=q, k=k, v=v, concat=out, output=projected)
            self.recorder.append(record)
        return projected, weights

    def _heads(self, query: Tensor, key: Tensor | None, value: Tensor | None, frozen: bool, t: int):
        """The projections split into heads: q (B, H, T, Dqk) and, unless a frozen cache holds them,
        k (B, Hkv, S, Dqk) and v (B, Hkv, S, Dv) (else None). Views, not einops: this runs once per
        layer per generated token. ``t``: the query's positions (1 for a 2-D query, and for the key
        it gives itself)."""
        batch, h, hkv = query.shape[0], self.n_heads, self.n_kv_heads
        if self.fused is not None and key is None and value is None and not torch.is_grad_enabled():
            qkv = self.fused(query)  # one (B, T, Dq + Dk + Dv) product
            if hkv == h and self.d_qk == self.d_v and t == 1:  # one position: (B, 1, 3 * H * D) -> 3 x (B, H, 1, D)
                return qkv.view(batch, 3, h, 1, self.d_qk).unbind(1)  # a view: no permute needed
            if hkv == h and self.d_qk == self.d_v:  # (B, T, 3 * H * D) -> (B, T, 3, H, D) -> 3 x (B, H, T, D)
                return qkv.view(batch, t, 3, h, self.d_qk).permute(2, 0, 3, 1, 4).unbind(0)
            q, k, v = qkv.split([h * self.d_qk, hkv * self.d_qk, hkv * self.d_v], dim=-1)
            s = t
        else:
            q = self.q_proj(query)
            if frozen:
                return q.view(batch, t, h, self.d_qk).transpose(1, 2), None, None
            s = t if key is None else key.shape[1]
            key = query if key is None else key
            value = key if value is None else value
            k, v = self.k_proj(key), self.v_proj(value)
        # (B, T, H * D) -> (B, T, H, D) -> (B, H, T, D), what rearrange("b t (h d) -> b h t d") does
        return (
            q.view(batch, t, h, self.d_qk).transpose(1, 2),
            k.view(batch, s, hkv, self.d_qk).transpose(1, 2),
            v.view(batch, s, hkv, self.d_v).transpose(1, 2),
        )

    def fuse_projections(self, rows: int, *, pack: bool = True) -> None:
        """Give self-attention one (Dq + Dk + Dv, D) product for q, k and v (``nn/packed.py``); a
        cross-attention, whose keys come from another sequence, keeps its three."""
        if self.kv_dim != self.d_model or self.value_dim != self.d_model:
            return
        if self.fused is None or not self.fused.fits(rows, pack):
            self.fused = FusedLinear((self.q_proj, self.k_proj, self.v_proj), rows, pack=pack)

    def _check_widths(self, query: Tensor, key: Tensor | None, value: Tensor | None) -> None:
        """Name the offending input when a width does not match the projections."""
        if query.dim() not in (2, 3) or query.shape[-1] != self.d_model:
            raise ValueError(
                f"query must be (batch, length, {self.d_model}) or, one position per row, (batch, {self.d_model}); "
                f"got {tuple(query.shape)}"
            )
        if key is not None and (key.dim() != 3 or key.shape[-1] != self.kv_dim):
            raise ValueError(f"key must be (batch, length, {self.kv_dim}); got {tuple(key.shape)}")
        if value is not None and (value.dim() != 3 or value.shape[-1] != self.value_dim):
            raise ValueError(f"value must be (batch, length, {self.value_dim}); got {tuple(value.shape)}")
        if query.dim() == 2 and key is None and value is not None:
            raise ValueError(
                "a 2-D query (one position per row) reads its keys and values from itself; to give a value "
                f"{tuple(value.shape)}, pass the query as (batch, 1, {self.d_model})"
            )
        if value is None and key is not None and self.value_dim != self.kv_dim:
            raise ValueError(f"value_dim={self.value_dim} differs from kv_dim={self.kv_dim}: pass value explicitly")
        if key is not None and value is not None and key.shape[:2] != value.shape[:2]:
            raise ValueError(f"key {tuple(key.shape)} and value {tuple(value.shape)} must share batch and length")
