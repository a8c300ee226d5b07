"""Transformer-XL's relative attention: rel_shift against an explicit gather, the vectorised scores
against a loop over (q_i + u) . k_j + (q_i + v) . W_R R_(i-j) with clamping, the fused path against
the reference path, and the memory masks."""

import math

import pytest
import torch

from einformer.nn.relative import (
    RelativeMultiHeadAttention,
    memory_causal_mask,
    rel_shift,
    relative_encoding,
    relative_positions,
)


@pytest.mark.parametrize(("t", "m"), [(4, 0), (5, 3), (1, 6), (6, 6)])
def test_rel_shift_equals_an_explicit_gather(t, m):
    k = m + t
    x = torch.randn(2, 3, t, k, dtype=torch.float64)
    out = rel_shift(x)
    for i in range(t):
        for j in range(m + i + 1):  # the keys query i may see
            assert out[0, 1, i, j] == x[0, 1, i, j + t - 1 - i]
            # column j + t - 1 - i of x is distance k - 1 - (j + t - 1 - i) = m + i - j
            assert relative_positions(k)[j + t - 1 - i] == m + i - j


def sinusoid(distance, d):
    """One distance's encoding written out: [sin(d * f_0), ..., cos(d * f_0), ...]."""
    freqs = [1.0 / 10000 ** (2 * j / d) for j in range(d // 2)]
    return torch.tensor(
        [math.sin(distance * f) for f in freqs] + [math.cos(distance * f) for f in freqs], dtype=torch.float64
    )


@pytest.mark.parametrize("clamp_len", [None, 2])
def test_scores_equal_a_loop_over_the_paper_formula(clamp_len):
    torch.manual_seed(0)
    b, t, m, d, h, dh = 2, 4, 3, 16, 2, 5
    attn = RelativeMultiHeadAttention(d, h, dh).double().eval()
    x, memory = torch.randn(b, t, d, dtype=torch.float64), torch.randn(b, m, d, dtype=torch.float64)
    u, v = torch.randn(h, dh, dtype=torch.float64), torch.randn(h, dh, dtype=torch.float64)
    k = m + t
    r = relative_encoding(relative_positions(k, clamp_len), d, torch.float64)
    mask = memory_causal_mask(t, m)
    _, weights = attn(x, memory, r, u, v, mask, need_weights=True)

    wq, wk, _ = attn.qkv.weight.view(3, h, dh, d)
    keys_in = torch.cat([memory, x], 1)
    expected = torch.zeros(b, h, t, k, dtype=torch.float64)
    for bb in range(b):
        for hh in range(h):
            for i in range(t):
                q = wq[hh] @ x[bb, i]
                scores = []
                for j in range(k):
                    dist = m + i - j
                    if dist < 0:
                        scores.append(float("-inf"))
                        continue
                    enc = sinusoid(min(dist, clamp_len) if clamp_len else dist, d).double()
                    wr = attn.r_net.weight.view(h, dh, d)[hh]
                    score = (q + u[hh]) @ (wk[hh] @ keys_in[bb, j]) + (q + v[hh]) @ (wr @ enc)
                    scores.append(float(score.detach()) / math.sqrt(dh))
                expected[bb, hh, i] = torch.softmax(torch.tensor(scores, dtype=torch.float64), 0)
    torch.testing.assert_close(weights, expected, rtol=0, atol=1e-10)


def test_fused_path_equals_reference_path():
    torch.manual_seed(1)
    attn = RelativeMultiHeadAttention(16, 4, 4).double().eval()
    x, memory = torch.randn(3, 5, 16).double(), torch.randn(3, 7, 16).double()
    u, v = torch.randn(4, 4).double(), torch.randn(4, 4).double()
    r = relative_encoding(relative_positions(12, 8), 16, torch.float64)
    for mask in (memory_causal_mask(5, 7), memory_causal_mask(5, 7, same_length=True, mem_len=7)):
        fast, none = attn(x, memory, r, u, v, mask)
        ref, _ = attn(x, memory, r, u, v, mask, need_weights=True)
        assert none is None
        torch.testing.assert_close(fast, ref, rtol=0, atol=1e-12)


def test_memory_masks():
    mask = memory_causal_mask(3, 2)
    assert mask.int().tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    # same_length with a full memory: every query sees exactly mem_len keys, ending at itself
    same = memory_causal_mask(3, 4, same_length=True, mem_len=4)
    assert same.sum(1).tolist() == [4, 4, 4]
    assert same.int().tolist()[0] == [0, 1, 1, 1, 1, 0, 0] and same.int().tolist()[2] == [0, 0, 0, 1, 1, 1, 1]
