"""scaled_dot_product_attention: the einsum reference against torch's fused kernel, and a
hand-written softmax(QK^T)V, over hypothesis-generated shapes and masks."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

from einformer.nn import causal_mask, scaled_dot_product_attention

TOL = {torch.float64: {"atol": 1e-10, "rtol": 1e-10}, torch.float32: {"atol": 1e-5, "rtol": 1e-5}}


@st.composite
def attention_case(draw):
    """Random q, k, v with T != S, Dqk != Dv, optional GQA, a mask kind, causal flag, dtype."""
    b = draw(st.integers(1, 3))
    hkv = draw(st.integers(1, 3))
    h = hkv * draw(st.sampled_from([1, 2]))
    t, s = draw(st.integers(1, 7)), draw(st.integers(1, 9))
    causal = draw(st.booleans())
    if causal and t > s:
        t, s = s, t
    dqk, dv = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    dtype = draw(st.sampled_from([torch.float64, torch.float32]))
    kind = draw(st.sampled_from(["none", "bool", "float", "padding", "dead_rows"]))
    seed = draw(st.integers(0, 2**16))
    return dict(b=b, h=h, hkv=hkv, t=t, s=s, dqk=dqk, dv=dv, dtype=dtype, kind=kind, causal=causal, seed=seed)


def make(case, requires_grad=False):
    g = torch.Generator().manual_seed(case["seed"])
    b, h, hkv, t, s = case["b"], case["h"], case["hkv"], case["t"], case["s"]
    dt = case["dtype"]
    q = torch.randn(b, h, t, case["dqk"], generator=g, dtype=dt, requires_grad=requires_grad)
    k = torch.randn(b, hkv, s, case["dqk"], generator=g, dtype=dt, requires_grad=requires_grad)
    v = torch.randn(b, hkv, s, case["dv"], generator=g, dtype=dt, requires_grad=requires_grad)
    mask = None
    if case["kind"] == "bool":
        mask = torch.rand(b, 1, t, s, generator=g) > 0.3
    elif case["kind"] == "float":
        mask = torch.randn(b, h, t, s, generator=g, dtype=dt)
        mask[torch.rand(b, h, t, s, generator=g) < 0.3] = float("-inf")
    elif case["kind"] == "padding":
        lengths = torch.randint(1, s + 1, (b,), generator=g)
        mask = (torch.arange(s)[None, :] < lengths[:, None])[:, None, None, :]
    elif case["kind"] == "dead_rows":
        mask = torch.ones(b, 1, t, s, dtype=torch.bool)
        mask[:, :, torch.rand(t, generator=g) < 0.5, :] = False  # whole query rows see no key
    return q, k, v, mask


def assert_same_gradients(ref, fast, inputs, tol):
    """Both outputs, given one random output gradient, give the same (NaN-free) input gradients."""
    grad = torch.randn_like(ref)
    g_ref = torch.autograd.grad(ref, inputs, grad)
    g_fast = torch.autograd.grad(fast, inputs, grad)
    for a, b in zip(g_ref, g_fast, strict=True):
        assert not a.isnan().any()
        assert_close(a, b, **tol)


@settings(max_examples=120, deadline=None)
@given(attention_case())
def test_reference_equals_fast_path_forward_and_backward(case):
    q, k, v, mask = make(case, requires_grad=True)
    kw = dict(mask=mask, is_causal=case["causal"])
    ref = scaled_dot_product_attention(q, k, v, impl="einsum", **kw)
    fast = scaled_dot_product_attention(q, k, v, impl="sdpa", **kw)
    assert not ref.isnan().any()
    assert_close(ref, fast, **TOL[case["dtype"]])
    assert_same_gradients(ref, fast, (q, k, v), TOL[case["dtype"]])


@settings(max_examples=60, deadline=None)
@given(attention_case(), st.sampled_from([0.1, 0.5]))
def test_cpu_dropout_path_equals_reference_with_the_same_mask(case, p):
    """With dropout on a CPU, "sdpa" computes the math itself (torch's kernel would fall back to it);
    seeded alike, it draws the same mask as the einsum reference, so outputs and gradients agree."""
    q, k, v, mask = make(case, requires_grad=True)
    kw = dict(mask=mask, is_causal=case["causal"], dropout_p=p)
    torch.manual_seed(case["seed"])
    ref = scaled_dot_product_attention(q, k, v, impl="einsum", **kw)
    torch.manual_seed(case["seed"])
    fast = scaled_dot_product_attention(q, k, v, impl="sdpa", **kw)
    assert_close(ref, fast, **TOL[case["dtype"]])
    assert_same_gradients(ref, fast, (q, k, v), TOL[case["dtype"]])


def loop_attention(q, k, v, keep, scale):
    """Oracle: one query row at a time, softmax written out with exp and sum."""
    b, h, t, _ = q.shape
    out = torch.zeros(b, h, t, v.shape[-1], dtype=q.dtype)
    groups = h // k.shape[1]
    for bi in range(b):
        for hi in range(h):
            for ti in range(t):
                kh = hi // groups
                scores = [float(q[bi, hi, ti] @ k[bi, kh, si]) * scale for si in range(k.shape[2])]
                allowed = [si for si in range(k.shape[2]) if keep[bi, 0, ti, si]]
                if not allowed:
                    continue
                top = max(scores[si] for si in allowed)
                z = sum(math.exp(scores[si] - top) for si in allowed)
                for si in allowed:
                    out[bi, hi, ti] += math.exp(scores[si] - top) / z * v[bi, kh, si]
    return out


@settings(max_examples=30, deadline=None)
@given(attention_case())
def test_reference_equals_scalar_loop(case):
    case = {**case, "dtype": torch.float64, "kind": "bool" if case["kind"] == "float" else case["kind"]}
    q, k, v, mask = make(case)
    keep = (
        torch.ones(case["b"], 1, case["t"], case["s"], dtype=torch.bool)
        if mask is None
        else mask.expand(case["b"], 1, case["t"], case["s"])
    )
    if case["causal"]:
        keep = keep & causal_mask(case["t"], case["s"])
    out = scaled_dot_product_attention(q, k, v, mask=mask, is_causal=case["causal"], impl="einsum")
    assert_close(out, loop_attention(q, k, v, keep, 1 / math.sqrt(case["dqk"])), atol=1e-10, rtol=1e-10)


def test_weights_are_a_distribution_and_zero_on_dead_rows():
    q, k, v = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 6, 5), torch.randn(2, 3, 6, 2)
    mask = torch.ones(2, 1, 4, 6, dtype=torch.bool)
    mask[:, :, 1] = False
    out, w = scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    assert w.shape == (2, 3, 4, 6)
    assert_close(w.sum(-1)[:, :, [0, 2, 3]], torch.ones(2, 3, 3))
    assert (w[:, :, 1] == 0).all() and (out[:, :, 1] == 0).all()
    assert_close(out, w @ v)


def test_gradcheck_reference_path():
    q = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    k = torch.randn(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(1, 2, 5, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(1, 1, 3, 5) > 0.3
    mask[..., 0, :] = False  # a dead row must not break the gradient
    assert torch.autograd.gradcheck(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=mask, is_causal=True, impl="einsum"), (q, k, v)
    )


def test_causal_alignment_bottom_right():
    m = causal_mask(2, 4)
    assert m.tolist() == [[True, True, True, False], [True, True, True, True]]
    assert causal_mask(3, 3).equal(torch.ones(3, 3, dtype=torch.bool).tril())


def test_future_tokens_never_change_earlier_outputs():
    q, k, v = (torch.randn(2, 4, 8, 6, dtype=torch.float64) for _ in range(3))
    for impl in ("einsum", "sdpa"):
        base = scaled_dot_product_attention(q, k, v, is_causal=True, impl=impl)
        for pos in range(8):
            k2, v2, q2 = k.clone(), v.clone(), q.clone()
            k2[:, :, pos:] += 1.0
            v2[:, :, pos:] -= 2.0
            q2[:, :, pos:] *= 3.0
            out = scaled_dot_product_attention(q2, k2, v2, is_causal=True, impl=impl)
            assert_close(out[:, :, :pos], base[:, :, :pos], atol=1e-12, rtol=0)
            if pos < 8:
                assert not torch.allclose(out[:, :, pos:], base[:, :, pos:])


def test_scale_and_dropout():
    q, k, v = torch.randn(1, 1, 3, 4), torch.randn(1, 1, 3, 4), torch.randn(1, 1, 3, 4)
    assert_close(
        scaled_dot_product_attention(q, k, v, scale=0.1, impl="einsum"),
        scaled_dot_product_attention(q, k, v, scale=0.1, impl="sdpa"),
    )
    torch.manual_seed(1)
    _, w = scaled_dot_product_attention(q, k, v, dropout_p=0.5, return_weights=True)
    assert ((w == 0) | (w > 0)).all() and (w == 0).any()


@pytest.mark.parametrize(
    ("shapes", "match"),
    [
        (((1, 2, 3, 4), (1, 2, 5, 3), (1, 2, 5, 4)), "same width Dqk"),
        (((1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 6, 4)), "same heads and length"),
        (((1, 3, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)), "must divide query heads"),
        (((2, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)), "batch size"),
        (((2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)), "4-d"),
    ],
)
def test_bad_shapes_name_the_shapes(shapes, match):
    q, k, v = (torch.randn(*s) for s in shapes)
    with pytest.raises(ValueError, match=match):
        scaled_dot_product_attention(q, k, v)


def test_bad_mask_and_options():
    q, k, v = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
    with pytest.raises(ValueError, match=r"mask of shape \(1, 1, 3, 4\)"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(1, 1, 3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="cannot return attention weights"):
        scaled_dot_product_attention(q, k, v, impl="sdpa", return_weights=True)
    with pytest.raises(ValueError, match="impl must be one of"):
        scaled_dot_product_attention(q, k, v, impl="flash")
    with pytest.raises(ValueError, match="at least as many keys"):
        scaled_dot_product_attention(k, q, q, is_causal=True)


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_the_single_query_branch_equals_the_einsum_reference(kv_heads, padded, scale):
    """The decode step's branch of the core: one query (the last position) against every key, padding
    masked, grouped heads, a given scale."""
    q, k, v = torch.randn(3, 4, 1, 8), torch.randn(3, kv_heads, 7, 8), torch.randn(3, kv_heads, 7, 5)
    keep = None
    if padded:
        keep = torch.ones(3, 1, 1, 7, dtype=torch.bool)
        keep[1, ..., :3] = False
    expected = scaled_dot_product_attention(q, k, v, mask=keep, is_causal=True, scale=scale, impl="einsum")
    got = scaled_dot_product_attention(q, k, v, mask=keep, is_causal=True, scale=scale)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
