"""Learning-rate schedules against their formulas."""

import math

import pytest

from einformer.training.schedules import lr_multiplier


def test_inverse_sqrt_is_the_papers_formula():
    d_model, warmup = 512, 4000
    peak = d_model**-0.5 * warmup**-0.5
    f = lr_multiplier("inverse_sqrt", warmup, 100000)
    for step in (1, 10, 1000, 3999, 4000, 4001, 20000, 100000):
        paper = d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)
        assert math.isclose(peak * f(step - 1), paper, rel_tol=1e-12)


def test_linear_and_cosine():
    lin, cos = lr_multiplier("linear", 10, 110), lr_multiplier("cosine", 10, 110)
    assert lin(4) == pytest.approx(0.5) and cos(4) == pytest.approx(0.5)  # step 5 of 10 warm-up
    assert lin(9) == pytest.approx(1.0) and cos(9) == pytest.approx(1.0)
    assert lin(59) == pytest.approx(0.5) and cos(59) == pytest.approx(0.5)  # half-way through the decay
    assert lin(109) == pytest.approx(0.0) and cos(109) == pytest.approx(0.0)
    assert lr_multiplier("constant", 0, 5)(3) == 1.0


def test_unknown_schedule():
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        lr_multiplier("step", 1, 2)
