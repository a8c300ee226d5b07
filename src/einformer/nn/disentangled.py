"""DeBERTa's disentangled attention (He et al. 2021, section 3.1).

Each token is a content vector and a relative position. The score of query i and key j adds, to
BERT's content-to-content term, a content-to-position and a position-to-content term read from one
table P of relative-position embeddings (2k rows, shared by all layers):

    A_ij = Q^c_i . K^c_j  +  Q^c_i . K^r_d(i,j)  +  K^c_j . Q^r_d(j,i)        (c2c, c2p, p2c)
    K^r = P W_k,r     Q^r = P W_q,r       (``share_att_key``: W_k,r = W_k and W_q,r = W_q)

divided by sqrt(3 Dh) (one sqrt(Dh) per term present), where d(i, j) is the row of distance i - j:
``relative_positions`` clamps it to [0, 2k), and, with ``position_buckets`` (DeBERTa-v2/v3), maps
distances beyond k/2 to log-sized buckets (``log_bucket_position``), so a 256-bucket table covers 512
positions. The two position terms are an additive bias to the same attention core as BERT's
(``scaled_dot_product_attention``), as Transformer-XL's (``relative.py``) and T5's bucketed biases
are; unlike them, DeBERTa's term depends on the content of both sides. Shape letters: B batch, H
heads, T queries, S keys, R = 2k table rows, Dh head width, D model width.
"""

from __future__ import annotations

import math

import torch
from einops import einsum, rearrange
from torch import Tensor, nn

from .attention import scaled_dot_product_attention
from .dropout import Dropout


def log_bucket_position(relative: Tensor, buckets: int, max_distance: int) -> Tensor:
    """(T, S) distances -> their buckets: within +-buckets/2 as they are, beyond on a log scale up to
    ``max_distance`` (DeBERTa's ``make_log_bucket_position``, the same float32 steps)."""
    sign = torch.sign(relative)
    mid = buckets // 2
    near = (relative < mid) & (relative > -mid)
    magnitude = torch.where(near, torch.tensor(mid - 1).type_as(relative), torch.abs(relative))
    log_scale = torch.log(torch.tensor((max_distance - 1) / mid))
    log_pos = torch.ceil(torch.log(magnitude / mid) / log_scale * (mid - 1)) + mid
    return torch.where(magnitude <= mid, relative.type_as(log_pos), log_pos * sign).long()


def relative_positions(t: int, s: int, *, buckets: int, max_distance: int, device=None) -> Tensor:
    """(T, S) long: query position minus key position, bucketed when ``buckets`` > 0."""
    relative = torch.arange(t, device=device)[:, None] - torch.arange(s, device=device)[None, :]
    return log_bucket_position(relative, buckets, max_distance) if buckets > 0 else relative


class DisentangledSelfAttention(nn.Module):
    """(B, T, D) -> (B, T, D): self-attention with DeBERTa's content and position terms.

    Args:
        d_model, n_heads: widths; each head is d_model / n_heads wide.
        span: k, half the rows of the relative table.
        terms: the position terms present, among "c2p" and "p2c".
        share_att_key: project the table with the content's own query and key maps.
        dropout: on the attention weights; position_dropout: on the table (Hugging Face: hidden dropout).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        span: int,
        terms: tuple[str, ...] = ("c2p", "p2c"),
        share_att_key: bool = True,
        dropout: float = 0.0,
        position_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_heads, self.span, self.terms, self.dropout = n_heads, span, tuple(terms), dropout
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(d_model, d_model) for _ in range(3))
        self.out_proj = nn.Linear(d_model, d_model)
        own = not share_att_key
        self.pos_k_proj = nn.Linear(d_model, d_model) if own and "c2p" in terms else None
        self.pos_q_proj = nn.Linear(d_model, d_model) if own and "p2c" in terms else None
        self.position_dropout = Dropout(position_dropout)
        self.recorder: list[dict] | None = None  # as MultiHeadAttention's: explain/steps.py

    def forward(
        self,
        x: Tensor,
        relative: Tensor | None,
        table: Tensor | None,
        attention_mask: Tensor | None = None,
        *,
        need_weights: bool = False,
        record: dict | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T, D), relative (T, T) distances (``relative_positions``), table (R, D) the shared
        relative embeddings (None for both: content only), attention_mask (B, T) 1 = token.

        Returns the output (B, T, D) and, with ``need_weights``, the weights (B, H, T, T).
        ``record`` gets the two position terms ("c2p", "p2c", each (B, H, T, T), scaled). With a
        ``recorder`` list (``explain/steps.py``) and ``need_weights``, every intermediate is appended
        to it: the core's (its "mask" is c2p + p2c, -inf on padding keys), the inputs, q, k, v, the
        two terms, the concatenated heads and the output."""
        steps = {} if need_weights and self.recorder is not None else None
        if record is None and steps is not None:
            record = {}
        split = "b t (h d) -> b h t d"
        q, k, v = (rearrange(p(x), split, h=self.n_heads) for p in (self.q_proj, self.k_proj, self.v_proj))
        factor = 1 + len(self.terms) if table is not None else 1
        scale = 1.0 / math.sqrt(q.shape[-1] * factor)
        bias = torch.zeros((), dtype=q.dtype, device=q.device)
        if table is not None:
            bias = self.position_bias(q, k, relative, self.position_dropout(table), scale, record)
        if attention_mask is not None:  # padding keys out: (B, 1, 1, S)
            keep = attention_mask[:, None, None, :].bool()
            bias = (bias + torch.zeros_like(keep, dtype=q.dtype)).masked_fill(~keep, float("-inf"))
        mask = bias.expand(q.shape[0], self.n_heads, q.shape[2], k.shape[2]) if bias.dim() else None
        p = self.dropout if self.training else 0.0
        out = scaled_dot_product_attention(
            q, k, v, mask=mask, scale=scale, dropout_p=p, return_weights=need_weights, record=steps
        )
        out, weights = out if need_weights else (out, None)
        concat = rearrange(out, "b h t d -> b t (h d)")
        projected = self.out_proj(concat)
        if steps is not None:  # the "mask" is the scaled c2p + p2c with the padding keys at -inf
            steps.update(record, query_input=x, key_input=x, q=q, k=k, v=v, concat=concat)
            self.recorder.append(dict(steps, output=projected, bias="disentangled"))
        return projected, weights

    def position_bias(self, q: Tensor, k: Tensor, relative: Tensor, table: Tensor, scale: float, record) -> Tensor:
        """The c2p and p2c terms (B, H, T, S), already scaled."""
        rows = table[: 2 * self.span]  # (R, D)
        split = "r (h d) -> h r d"
        bias = torch.zeros((), dtype=q.dtype, device=q.device)
        if "c2p" in self.terms:  # query content . key position: row d(i, j) of the keys' projection
            pos_k = rearrange((self.pos_k_proj or self.k_proj)(rows), split, h=self.n_heads)  # (H, R, Dh)
            c2p = einsum(q, pos_k, "b h t d, h r d -> b h t r")
            index = (relative + self.span).clamp(0, 2 * self.span - 1)  # (T, S)
            c2p = c2p.gather(-1, index.expand(*c2p.shape[:2], *index.shape)) * scale
            bias = bias + c2p
            if record is not None:
                record["c2p"] = c2p
        if "p2c" in self.terms:  # key content . query position: row d(j, i) of the queries' projection
            pos_q = rearrange((self.pos_q_proj or self.q_proj)(rows), split, h=self.n_heads)  # (H, R, Dh)
            p2c = einsum(k, pos_q, "b h s d, h r d -> b h s r")
            index = (self.span - relative).clamp(0, 2 * self.span - 1)  # (S, T) for keys over queries
            p2c = p2c.gather(-1, index.expand(*p2c.shape[:2], *index.shape)).transpose(-1, -2) * scale
            bias = bias + p2c
            if record is not None:
                record["p2c"] = p2c
        return bias
