"""Attention masks: causal, padding, sliding windows (a decoder's, and an encoder's symmetric one), and
their combination.

Convention everywhere in einformer: a boolean mask says *may attend* (True = keep), exactly as
``torch.nn.functional.scaled_dot_product_attention`` reads it. A float mask is *additive*: it is
added to the scores before the softmax (0 = keep, -inf = drop). The Hugging Face ``attention_mask``
of shape (B, S) with 1 = real token, 0 = padding is turned into a boolean (B, 1, 1, S) mask here.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor
from torch.utils import _python_dispatch


def causal_mask(t: int, s: int, *, device: torch.device | str | None = None) -> Tensor:
    """Boolean (T, S) causal mask aligned bottom-right.

    Query i may see key j when j <= i + (S - T): the last query sees every key. With T == S this is
    the usual lower triangle; with T < S (decoding with a cache of S - T earlier keys) the new
    queries sit at the end of the sequence. torch's ``is_causal=True`` aligns top-left instead, so
    einformer never passes it when T != S.
    """
    if t > s:
        raise ValueError(f"causal mask needs at least as many keys as queries, got T={t} queries, S={s} keys")
    rows = torch.arange(t, device=device).unsqueeze(1)  # (T, 1)
    cols = torch.arange(s, device=device).unsqueeze(0)  # (1, S)
    return cols <= rows + (s - t)


# Checking K proposed tokens built the same small (K + 1, S) mask in every layer: attention takes
# masks up to this many entries, on a CPU, from one made once (``shared_causal_mask``).
CACHED_CAUSAL = 64 * 4096


def shared_causal_mask(t: int, s: int, device: torch.device) -> Tensor:
    """``causal_mask(t, s)`` for a reader that never writes into it (the attention core): a small CPU
    mask is made once and shared, unless a trace, a compile or a dispatch mode (torch.export's fake
    tensors) is running, where a stored tensor would be the wrong kind."""
    if t * s > CACHED_CAUSAL or device.type != "cpu" or not _plain_eager():
        return causal_mask(t, s, device=device)
    return _causal_once(t, s)


def _plain_eager() -> bool:
    return not (
        torch.compiler.is_compiling() or torch.jit.is_tracing() or _python_dispatch._get_current_dispatch_mode()
    )


@functools.lru_cache(maxsize=16)
def _causal_once(t: int, s: int) -> Tensor:
    return causal_mask(t, s, device="cpu")


def padding_mask(attention_mask: Tensor) -> Tensor:
    """Hugging Face (B, S) mask, 1 = token and 0 = padding -> boolean (B, 1, 1, S) keep-mask."""
    if attention_mask.dim() != 2:
        raise ValueError(
            f"a padding attention_mask must be (batch, key_length), got shape {tuple(attention_mask.shape)}"
        )
    return (attention_mask != 0)[:, None, None, :]


def expand_attention_mask(attention_mask: Tensor, batch: int, t: int, s: int) -> Tensor:
    """Normalise a user ``attention_mask`` to a 4-d mask broadcastable to (B, H, T, S).

    Accepted forms:
      * (B, S), any dtype: Hugging Face padding mask, nonzero = keep;
      * (B, T, S) or (B, H, T, S), bool or integer: keep-mask, nonzero = keep;
      * (B, T, S) or (B, H, T, S), floating: additive mask, returned as is (with a head axis).
    """
    shape = tuple(attention_mask.shape)
    if attention_mask.dim() == 2:
        if shape != (batch, s):
            raise ValueError(
                f"attention_mask of shape {shape} does not match (batch, key_length) = {(batch, s)}; "
                "pass one row per sequence with one entry per key (past keys from a cache included)"
            )
        return padding_mask(attention_mask)
    if attention_mask.dim() == 3:
        attention_mask = attention_mask.unsqueeze(1)  # (B, T, S) -> (B, 1, T, S)
    if attention_mask.dim() != 4:
        raise ValueError(f"attention_mask must be (B, S), (B, T, S) or (B, H, T, S); got shape {shape}")
    b, _, mt, ms = attention_mask.shape
    if b not in (1, batch) or mt not in (1, t) or ms != s:
        raise ValueError(
            f"attention_mask of shape {shape} does not broadcast to (batch, heads, T, S) = ({batch}, H, {t}, {s})"
        )
    if attention_mask.is_floating_point() or attention_mask.dtype == torch.bool:
        return attention_mask
    return attention_mask != 0


def padding_keep(attention_mask: Tensor | None) -> Tensor | None:
    """A model's (B, S) mask -> the (B, 1, 1, S) keep-mask its layers share, or None when nothing is
    padding (then attention needs no mask: the fused kernel's own causal mask, or none at all). A
    (B, 1, 1, S) boolean keep-mask, made once by a caller that reuses it, is returned as it is."""
    if attention_mask is None or (attention_mask.dim() == 4 and attention_mask.dtype == torch.bool):
        return attention_mask
    if bool(attention_mask.all()):
        return None
    return padding_mask(attention_mask)


def merge_masks(mask: Tensor | None, keep: Tensor) -> Tensor:
    """Combine a mask (bool keep-mask, additive float, or None) with a boolean keep-mask."""
    if mask is None:
        return keep
    if mask.dtype == torch.bool:
        return mask & keep
    return mask.masked_fill(~keep, float("-inf"))


def positions_from_mask(attention_mask: Tensor | None, past: int, t: int, device=None) -> Tensor:
    """(B, T) position ids: count only real tokens, so a left-padded prompt starts at 0 (as HF does)."""
    if attention_mask is None:
        return torch.arange(past, past + t, device=device)[None]
    positions = attention_mask.long().cumsum(-1) - 1
    positions = positions.masked_fill(attention_mask == 0, 1)  # padding: any valid id, never attended to
    return positions[:, -t:]


def sliding_window_keep(window: int, past: int, t: int, device=None) -> Tensor:
    """Boolean (1, 1, T, S) keep-mask of a sliding window over cache indices: the query at index
    past + i sees the keys at indices past + i - window < j (the last ``window``, itself included;
    causality is the attention's own). S = past + T."""
    rows = torch.arange(past, past + t, device=device)[:, None]  # (T, 1)
    cols = torch.arange(past + t, device=device)[None]  # (1, S)
    return (cols > rows - window)[None, None]


def local_window_keep(radius: int, t: int, device=None) -> Tensor:
    """Boolean (1, 1, T, T) keep-mask of an encoder's symmetric window: query i sees key j when
    |i - j| <= ``radius``, on both sides (ModernBERT's local attention: radius = local_attention // 2).
    ``sliding_window_keep`` is the decoder's, which looks back only."""
    if radius < 0:
        raise ValueError(f"a local window needs radius >= 0, got {radius}")
    index = torch.arange(t, device=device)
    return ((index[:, None] - index[None, :]).abs() <= radius)[None, None]
