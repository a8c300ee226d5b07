"""nn/dropout.py: the uniform-compare mask against dropout's definition."""

import pytest
import torch
from torch import nn

from einformer.nn import Dropout, dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_keep_rate_and_scale(p, dtype):
    torch.manual_seed(0)
    x = torch.full((1_000_000,), 2.0, dtype=dtype)
    y = dropout(x, p)
    kept = y != 0
    n, rate = x.numel(), float(kept.double().mean())
    sigma = (p * (1 - p) / n) ** 0.5
    assert abs(rate - (1 - p)) < 5 * sigma, rate  # the mask's draws are fp32 uniforms, whatever x's dtype
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 2.0 / (1 - p)))


def test_gradient_is_the_mask_times_the_scale():
    torch.manual_seed(1)
    x = torch.randn(64, 32, requires_grad=True)
    y = dropout(x, 0.3)
    y.sum().backward()
    expected = (y != 0).float() / 0.7
    torch.testing.assert_close(x.grad, expected)


def test_identity_when_evaluating_or_p_zero_and_all_zero_at_p_one():
    x = torch.randn(5, 7)
    assert dropout(x, 0.5, training=False) is x and dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))


def test_seeded_draws_repeat_and_module_matches_nn_dropout():
    x = torch.randn(100)
    torch.manual_seed(3)
    a = dropout(x, 0.2)
    torch.manual_seed(3)
    assert torch.equal(a, dropout(x, 0.2))
    module = Dropout(0.2)
    assert isinstance(module, nn.Dropout) and repr(module) == repr(nn.Dropout(0.2))
    torch.manual_seed(3)
    assert torch.equal(module(x), a)
    assert torch.equal(module.eval()(x), x)
