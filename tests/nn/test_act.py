"""Adaptive Computation Time against a scalar, per-position loop of Graves' algorithm."""

import pytest
import torch
from torch.testing import assert_close

from einformer.nn import AdaptiveComputationTime, MultiHeadAttention


def graves_reference(s0, step, halting, max_steps, epsilon):
    """One position: plain Python, exactly as the paper writes it."""
    states, hs, s = [], [], s0
    for n in range(1, max_steps + 1):
        s = step(s, n)
        states.append(s)
        hs.append(torch.sigmoid(halting(s)).item())
        if sum(hs) >= 1 - epsilon or n == max_steps:
            break
    big_n = len(states)
    remainder = 1.0 - sum(hs[:-1])
    p = hs[:-1] + [remainder]
    output = sum(pi * si for pi, si in zip(p, states, strict=True))
    return output, big_n, remainder, p


def make(d=8, max_steps=6, seed=0, bias=-0.5):
    torch.manual_seed(seed)
    act = AdaptiveComputationTime(d, max_steps, init_bias=bias).double()
    with torch.no_grad():
        act.halting.weight.normal_(std=1.0)
    w = torch.randn(d, d, dtype=torch.float64) / d**0.5

    def step(state, n):  # position-wise: each position's trajectory depends on itself only
        return torch.tanh(state @ w + 0.1 * n)

    return act, step


@pytest.mark.parametrize("max_steps", [1, 3, 6])
def test_matches_the_scalar_reference(max_steps):
    act, step = make(max_steps=max_steps)
    x = torch.randn(3, 5, 8, dtype=torch.float64) * 2
    out, steps, rem, cost = act(x, step)
    for b in range(3):
        for t in range(5):
            ref_out, n, r, p = graves_reference(x[b, t], step, act.halting, max_steps, act.epsilon)
            assert abs(sum(p) - 1) < 1e-12  # a distribution, also when capped at max_steps
            assert 1 <= n <= max_steps and act.epsilon < r <= 1
            assert steps[b, t].item() == n
            assert_close(rem[b, t].item(), r, atol=1e-12, rtol=0)
            assert_close(out[b, t], ref_out, atol=1e-12, rtol=0)
    assert_close(cost, (steps + rem).mean())
    if max_steps == 6:
        assert steps.unique().numel() > 1  # positions halt at different steps here


def test_gradients_reach_the_halting_unit():
    act, step = make()
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    out, _, _, cost = act(x, step)
    (out.sum() + 0.01 * cost).backward()
    assert act.halting.weight.grad.abs().sum() > 0 and act.halting.bias.grad.abs() > 0


def test_early_stop_equals_running_all_steps():
    act, step = make(max_steps=8, bias=2.0)  # halts early: the loop can stop long before max_steps
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    a = act(x, step, early_stop=True)
    b = act(x, step, early_stop=False)
    for u, v in zip(a, b, strict=True):
        assert_close(u, v, atol=0, rtol=0)
    assert a[1].max() < 8


@pytest.mark.parametrize("mode", ["graves", "ut"])
def test_padding_does_not_change_other_positions(mode):
    torch.manual_seed(0)
    act = AdaptiveComputationTime(16, 5, init_bias=-1.0, mode=mode).double()
    attn = MultiHeadAttention(16, 4).double()
    x = torch.randn(1, 6, 16, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])

    def step(state, n, mask=mask):  # attention mixes positions, padding masked out
        return torch.tanh(state + attn(state, attention_mask=mask)[0])

    out, steps, _, _ = act(x, step, mask=mask)
    noisy = x.clone()
    noisy[:, 4:] = torch.randn(1, 2, 16, dtype=torch.float64) * 5
    out2, steps2, _, _ = act(noisy, step, mask=mask)
    assert_close(out2[:, :4], out[:, :4], atol=1e-12, rtol=0)
    assert torch.equal(steps, steps2) and (steps[:, 4:] == 0).all() and (out[:, 4:] == 0).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_steps must be >= 1"):
        AdaptiveComputationTime(8, 0)
    with pytest.raises(ValueError, match="mode must be one of"):
        AdaptiveComputationTime(8, 3, mode="basic")


def test_ut_mode_interpolates_the_state():
    """The named departure: s <- p * step(s) + (1 - p) * s, the output being the final state."""
    act, step = make(max_steps=5)
    act.mode = "ut"
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    out, steps, _, _ = act(x, step)
    for b in range(2):
        for t in range(3):
            s, total, n = x[b, t], 0.0, 0
            while True:
                n += 1
                new = step(s, n)
                h = torch.sigmoid(act.halting(new)).item()
                halt = total + h >= 1 - act.epsilon or n == 5
                p = 1.0 - total if halt else h
                s = p * new + (1 - p) * s
                total += h
                if halt:
                    break
            assert steps[b, t].item() == n
            assert_close(out[b, t], s, atol=1e-12, rtol=0)
