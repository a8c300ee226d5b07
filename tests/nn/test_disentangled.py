"""DeBERTa's disentangled attention against its formula written out one (query, key) pair at a time:

    A_ij = (q_i . k_j + q_i . K^r[c(d(i, j))] + k_j . Q^r[c(-d(j, i))]) / sqrt(3 Dh),  out_i = sum_j softmax(A_i)_j v_j

with d the (bucketed) distance and c(x) = clamp(x + span, 0, 2 span - 1); padding keys take no weight.
The buckets against their definition: exact within +-span/2, log-sized beyond, odd in the distance."""

import math

import pytest
import torch
from torch.testing import assert_close

from einformer.nn.disentangled import DisentangledSelfAttention, log_bucket_position, relative_positions


@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("buckets", [0, 4])
def test_attention_equals_the_formula_pair_by_pair(share, buckets):
    torch.manual_seed(0)
    d, h, t, span = 8, 2, 6, 4 if buckets else 3
    attn = DisentangledSelfAttention(d, h, span=span, terms=("c2p", "p2c"), share_att_key=share).double().eval()
    x = torch.randn(2, t, d, dtype=torch.float64)
    table = torch.randn(2 * span, d, dtype=torch.float64)
    mask = torch.ones(2, t, dtype=torch.long)
    mask[1, 4:] = 0
    rel = relative_positions(t, t, buckets=buckets, max_distance=16)
    record = {}
    out, weights = attn(x, rel, table, mask, need_weights=True, record=record)

    dh = d // h
    heads = lambda y: y.view(*y.shape[:-1], h, dh)  # noqa: E731  (..., D) -> (..., H, Dh)
    q, k, v = heads(attn.q_proj(x)), heads(attn.k_proj(x)), heads(attn.v_proj(x))
    pos_k = heads((attn.k_proj if share else attn.pos_k_proj)(table))
    pos_q = heads((attn.q_proj if share else attn.pos_q_proj)(table))
    c = lambda r: min(max(int(r) + span, 0), 2 * span - 1)  # noqa: E731
    expected = torch.zeros(2, t, h, dh, dtype=torch.float64)
    for b in range(2):
        for head in range(h):
            for i in range(t):
                scores = torch.full((t,), -math.inf, dtype=torch.float64)
                for j in range(t):
                    if mask[b, j]:
                        a = q[b, i, head] @ k[b, j, head]
                        a = a + q[b, i, head] @ pos_k[c(rel[i, j]), head]
                        a = a + k[b, j, head] @ pos_q[c(-rel[j, i]), head]
                        scores[j] = a / math.sqrt(3 * dh)
                p = scores.softmax(-1)
                assert_close(weights[b, head, i], p)
                expected[b, i, head] = p @ v[b, :, head]
    assert_close(out, attn.out_proj(expected.reshape(2, t, d)))
    assert record["c2p"].shape == record["p2c"].shape == (2, h, t, t)


def test_buckets_follow_their_definition():
    distances = torch.arange(-300, 301)
    buckets = log_bucket_position(distances, 256, 512)
    near = distances.abs() <= 128
    assert torch.equal(buckets[near], distances[near])  # exact within +-span/2
    assert torch.equal(buckets, -log_bucket_position(-distances, 256, 512))  # odd
    far = buckets[distances >= 128]
    assert bool((far[1:] >= far[:-1]).all()) and int(far.max()) <= 255  # monotone, inside the table
    assert torch.equal(
        relative_positions(3, 3, buckets=0, max_distance=8), torch.tensor([[0, -1, -2], [1, 0, -1], [2, 1, 0]])
    )
