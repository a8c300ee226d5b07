"""Relative multi-head attention of Transformer-XL (Dai et al. 2019, section 3.3).

With segment-level memory, absolute positions are ambiguous (position 5 of this segment and of the
last one would look the same), so Transformer-XL scores query i against key j through their
distance i - j alone:

    score(i, j) = (q_i + u) . k_j  +  (q_i + v) . W_R R_(i-j)
                  (a) content  + (c) global content bias
                                   (b) content-dependent position + (d) global position bias

with R a sinusoid table of distances (not learned), W_R a linear map, and u, v learned per head
(shared by every layer by default). Keys are the memory states followed by the segment's states.
Term (b)+(d) is computed for every query against every distance at once, (T, K), then moved into
place by ``rel_shift``: row i is shifted so that column j holds distance i - j. Shape letters: B
batch, T queries (the segment), M memory length, K = M + T keys, H heads, Dh head width, D model width.
"""

from __future__ import annotations

import math

import torch
from einops import einsum, rearrange
from torch import Tensor, nn

from .attention import scaled_dot_product_attention


def relative_positions(klen: int, clamp_len: int | None = None, *, device=None) -> Tensor:
    """(K,) distances K-1, K-2, ..., 0: column r of the position term is distance K-1-r; distances
    beyond ``clamp_len`` share the encoding of clamp_len."""
    pos = torch.arange(klen - 1, -1, -1, device=device, dtype=torch.float64)
    return pos.clamp(max=clamp_len) if clamp_len is not None else pos


def relative_encoding(positions: Tensor, d_model: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """(K,) distances -> (K, D) sinusoids, [sin | cos] halves as the reference code lays them out
    (computed in float64, returned in ``dtype``)."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, d_model, 2, device=positions.device, dtype=torch.float64) / d_model))
    angles = positions.double()[:, None] * inv_freq[None, :]  # (K, D/2)
    return torch.cat([angles.sin(), angles.cos()], dim=-1).to(dtype)


def rel_shift(x: Tensor) -> Tensor:
    """(..., T, K) scores over the distance columns K-1..0 -> (..., T, K) scores over keys.

    Query i (absolute position M + i) and key j are at distance M + i - j, which sits in column
    K - 1 - (M + i - j) = j + T - 1 - i. Padding one zero column in front and reading the buffer
    back with one row less shifts row i left by T - 1 - i: out[i, j] = x[i, j + T - 1 - i] wherever
    that column exists (j <= M + i, the keys a causal query may see); other entries are junk that
    the causal mask removes.
    """
    *lead, t, k = x.shape
    padded = torch.cat([x.new_zeros(*lead, t, 1), x], dim=-1)  # (..., T, K + 1)
    padded = padded.view(*lead, k + 1, t)  # the same buffer read as (K + 1) rows of T
    return padded[..., 1:, :].reshape(*lead, t, k)  # drop the first row; (..., T, K)


def memory_causal_mask(qlen: int, mlen: int, *, same_length: bool = False, mem_len: int = 0, device=None) -> Tensor:
    """(T, M + T) boolean, True = may attend: query i sees keys j <= M + i (all memory and the
    segment up to itself). ``same_length`` also hides keys so that every query sees the same number,
    ``mem_len``, of them (the reference code's evaluation setting)."""
    klen = mlen + qlen
    i = torch.arange(qlen, device=device)[:, None]
    j = torch.arange(klen, device=device)[None, :]
    allowed = j <= i + mlen
    if same_length:
        mask_len = klen - mem_len
        shift = qlen - mask_len if mask_len > 0 else qlen
        allowed &= j > i - shift
    return allowed


class RelativeMultiHeadAttention(nn.Module):
    """Transformer-XL's attention: queries from the segment, keys and values from memory + segment.

    Args:
        d_model: input and output width; n_heads: heads; d_head: width per head.
        attention_dropout: dropout on the attention weights.
    """

    def __init__(self, d_model: int, n_heads: int, d_head: int, *, attention_dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_head
        self.qkv = nn.Linear(d_model, 3 * n_heads * d_head, bias=False)
        self.r_net = nn.Linear(d_model, n_heads * d_head, bias=False)  # W_R
        self.out = nn.Linear(n_heads * d_head, d_model, bias=False)
        self.attention_dropout = attention_dropout
        self.scale = 1.0 / math.sqrt(d_head)
        self.recorder: list[dict] | None = None  # as MultiHeadAttention's: explain/steps.py

    def forward(
        self,
        h: Tensor,
        memory: Tensor,
        r: Tensor,
        u: Tensor,
        v: Tensor,
        mask: Tensor,
        *,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Args:
            h: (B, T, D) the segment; memory: (B, M, D) earlier states (M may be 0).
            r: (K, D) relative encodings of distances K-1..0; u, v: (H, Dh) the global biases.
            mask: (T, K) boolean, True = may attend.
            need_weights: also return the (B, H, T, K) weights (reference einsum path).
        Returns:
            (B, T, D), and the weights or None.
        """
        t = h.shape[1]
        keys_in = torch.cat([memory, h], dim=1)  # (B, K, D)
        qkv = rearrange(self.qkv(keys_in), "b k (three h d) -> three b h k d", three=3, h=self.n_heads)
        q, k, val = qkv[0][:, :, -t:], qkv[1], qkv[2]  # q (B, H, T, Dh); k, val (B, H, K, Dh)
        r_k = rearrange(self.r_net(r), "k (h d) -> h k d", h=self.n_heads)  # (H, K, Dh)
        position = einsum(q + v[:, None], r_k, "b h t d, h k d -> b h t k")  # (b) + (d), by distance
        position = rel_shift(position) * self.scale  # (B, H, T, K), by key
        # the shared attention core, with the position term and the mask as one additive bias: it
        # computes softmax((q + u) . k * scale + bias) v, terms (a) + (c) plus (b) + (d)
        bias = position.masked_fill(~mask, float("-inf"))
        record = {} if need_weights and self.recorder is not None else None
        result = scaled_dot_product_attention(
            q + u[:, None],
            k,
            val,
            mask=bias,
            dropout_p=self.attention_dropout if self.training else 0.0,
            scale=self.scale,
            return_weights=need_weights,
            record=record,
        )
        out, weights = result if need_weights else (result, None)
        concat = rearrange(out, "b h t d -> b t (h d)")
        projected = self.out(concat)
        if record is not None:  # the "mask" is the position term (b) + (d) with the causal mask in it
            record.update(query_input=h, key_input=keys_in, q=q + u[:, None], k=k, v=val, concat=concat)
            self.recorder.append(dict(record, output=projected, bias="position"))
        return projected, weights
