"""Rotary position embeddings against their oracles: a complex-number rotation, the relative-offset
identity of the scores, and transformers' frequency functions for every rope_type."""

import math

import pytest
import torch

from einformer.nn.rotary import ROPE_TYPES, RotaryEmbedding, inverse_frequencies

DH = 16


def _complex_reference(x: torch.Tensor, positions: torch.Tensor, inv_freq: torch.Tensor) -> torch.Tensor:
    """Pairs (i, i + Dh/2) as complex numbers, multiplied by exp(1j * m * w_i); fp64."""
    half = x.shape[-1] // 2
    z = torch.complex(x[..., :half].double(), x[..., half:].double())
    turned = z * torch.exp(1j * positions.double()[..., None] * inv_freq.double())
    return torch.cat([turned.real, turned.imag], dim=-1)


@pytest.mark.parametrize("rope_type", ["default", "linear", "llama3", "yarn"])
def test_rotation_equals_the_complex_number_reference(rope_type):
    scaling = dict(factor=4.0, original_max_position_embeddings=32, low_freq_factor=1.0, high_freq_factor=4.0)
    rope = RotaryEmbedding(DH, theta=500.0, rope_type=rope_type, **scaling)
    q, k = torch.randn(2, 4, 7, DH), torch.randn(2, 2, 7, DH)
    positions = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [3, 9, 27, 40, 41, 63, 100]])
    got_q, got_k = rope(q, k, positions)
    scale = rope.attention_factor
    for x, got in ((q, got_q), (k, got_k)):
        expected = _complex_reference(x, positions[:, None], rope.inv_freq) * scale
        torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("partial", [1.0, 0.5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rotation_is_bit_for_bit_the_rotate_half_formula(partial, dtype):
    """The module turns by roll(x, Dr / 2) * [-sin, sin]; transformers writes x * cos + rotate_half(x) * sin."""
    from einformer.nn.rotary import rotate_half

    rope = RotaryEmbedding(DH, partial_rotary_factor=partial)
    q, k = torch.randn(3, 4, 5, DH, dtype=dtype), torch.randn(3, 2, 5, DH, dtype=dtype)
    positions = torch.tensor([[0, 1, 2, 3, 4], [7, 8, 9, 10, 11], [2, 40, 41, 300, 301]])
    cos, sin = rope.cos_sin(positions, dtype)
    r = rope.dim
    for x, got in zip((q, k), rope(q, k, positions), strict=True):
        turned = x[..., :r] * cos + rotate_half(x[..., :r]) * sin
        assert torch.equal(got, torch.cat([turned, x[..., r:]], dim=-1))


def test_scores_depend_only_on_the_offset():
    """q(m) . k(n) = q(m + s) . k(n + s) for every shift s: the score sees m - n only."""
    rope = RotaryEmbedding(DH, theta=10000.0)
    q, k = torch.randn(1, 1, 1, DH, dtype=torch.float64), torch.randn(1, 1, 1, DH, dtype=torch.float64)
    rope = rope.double()
    for m, n in [(0, 0), (5, 2), (2, 5), (17, 3)]:
        scores = []
        for shift in (0, 1, 9, 250):
            qm, _ = rope(q, q, torch.tensor([[m + shift]]))
            _, kn = rope(k, k, torch.tensor([[n + shift]]))
            scores.append(float((qm * kn).sum()))
        assert max(scores) - min(scores) < 1e-9, (m, n, scores)


def test_partial_rotation_turns_the_first_dimensions_only():
    rope = RotaryEmbedding(DH, partial_rotary_factor=0.5)
    q = torch.randn(1, 2, 3, DH)
    positions = torch.tensor([[1, 4, 9]])
    got, _ = rope(q, q, positions)
    torch.testing.assert_close(got[..., DH // 2 :], q[..., DH // 2 :])
    expected = _complex_reference(q[..., : DH // 2], positions[:, None], rope.inv_freq)
    torch.testing.assert_close(got[..., : DH // 2].double(), expected, rtol=1e-5, atol=1e-5)


def test_an_unknown_rope_type_is_refused_by_name():
    with pytest.raises(ValueError, match=r"rope_type 'longrope' is not supported; choose one of"):
        RotaryEmbedding(DH, rope_type="longrope")


CASES = {
    "default": {},
    "linear": dict(factor=2.0),
    "dynamic": dict(factor=2.0),
    "llama3": dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=64),
    "yarn": dict(factor=4.0, original_max_position_embeddings=64, beta_fast=32.0, beta_slow=1.0),
}


@pytest.mark.hf
@pytest.mark.parametrize("rope_type", ROPE_TYPES)
@pytest.mark.parametrize("partial", [1.0, 0.5])
def test_frequencies_equal_transformers(rope_type, partial):
    """inv_freq and the attention factor, for lengths inside and past the original context."""
    transformers = pytest.importorskip("transformers")
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    params = {"rope_type": rope_type, "rope_theta": 10000.0, **CASES[rope_type]}
    if partial != 1.0:
        params["partial_rotary_factor"] = partial
    config = transformers.LlamaConfig(
        hidden_size=64, num_attention_heads=4, max_position_embeddings=64, rope_parameters=params
    )
    fields = {k: v for k, v in CASES[rope_type].items()}
    fields.setdefault("original_max_position_embeddings", 64)
    dim = int(DH * partial)
    for seq_len in (None, 50, 200):
        if rope_type == "default":
            theirs = ROPE_INIT_FUNCTIONS.get("default")
            if theirs is None:  # transformers 5 computes the default inside the model
                base = 1.0 / 10000.0 ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)
                expected, factor = base, 1.0
            else:
                expected, factor = theirs(config, "cpu", seq_len=seq_len)
        else:
            expected, factor = ROPE_INIT_FUNCTIONS[rope_type](config, "cpu", seq_len=seq_len)
        ours, our_factor = inverse_frequencies(dim, 10000.0, rope_type, seq_len, **fields)
        torch.testing.assert_close(ours, expected.float(), rtol=1e-6, atol=0)
        assert math.isclose(our_factor, factor, rel_tol=1e-9)


SCALED = {
    "default": {},
    "linear": dict(factor=4.0),
    "llama3": dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=16),
    "yarn": dict(factor=4.0, original_max_position_embeddings=16),
}


@pytest.mark.parametrize("partial", [1.0, 0.5])
@pytest.mark.parametrize("rope_type", sorted(SCALED))
def test_attention_scores_are_the_same_for_every_shift_of_the_positions(rope_type, partial):
    """Inside the attention layer: q(m).k(n) = q(m + s).k(n + s) for every pair of a whole sequence,
    whichever fixed-frequency variant rotates them, so the weights are too."""
    from einformer.nn.attention import MultiHeadAttention

    torch.manual_seed(0)
    rope = RotaryEmbedding(DH, theta=100.0, rope_type=rope_type, partial_rotary_factor=partial, **SCALED[rope_type])
    attn = MultiHeadAttention(64, 4, n_kv_heads=2, rotary=rope).double().eval()
    attn.recorder = []
    x = torch.randn(1, 9, 64, dtype=torch.float64)
    weights = []
    for shift in (0, 3, 40, 1000):
        _, w = attn(x, is_causal=True, position_ids=torch.arange(9)[None] + shift, need_weights=True)
        weights.append(w)
    dots = [r["dots"] for r in attn.recorder]  # (1, H, T, S) q.k of every pair, before the scale
    for other in dots[1:]:
        torch.testing.assert_close(other, dots[0], rtol=1e-9, atol=1e-9)
    for other in weights[1:]:
        torch.testing.assert_close(other, weights[0], rtol=1e-9, atol=1e-12)
    rotated = [r["q"] for r in attn.recorder]
    assert not torch.allclose(rotated[1], rotated[0])  # the queries themselves did turn


def test_dynamic_rotation_past_the_trained_length_equals_the_complex_reference():
    """Past original_max_position_embeddings, "dynamic" turns by the frequencies of the current length."""
    rope = RotaryEmbedding(DH, theta=500.0, rope_type="dynamic", factor=2.0, original_max_position_embeddings=8)
    q = torch.randn(1, 2, 20, DH)
    for length in (8, 20):
        positions = torch.arange(length)[None]
        got, _ = rope(q[:, :, :length], q[:, :, :length], positions)
        inv_freq, _ = inverse_frequencies(DH, 500.0, "dynamic", length, factor=2.0, original_max_position_embeddings=8)
        expected = _complex_reference(q[:, :, :length], positions[:, None], inv_freq)
        torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)
    assert not torch.equal(inv_freq, rope.inv_freq)  # 20 > 8: theta grew


def test_the_figures_offset_curve_is_the_closed_form(tmp_path):
    """docs/rope.md's figure (explain/rope.py): for q = k = 1 the score at offset d is
    (2 / Dh) sum_i cos(d w_i) (times the attention factor squared), and the drawing is written."""
    from einformer.explain import rope as figure

    offsets = torch.arange(0, 300)
    for label in ("default", "linear, factor 4", "yarn, factor 4"):
        module = figure.rotary(**figure.VARIANTS[label])
        w = module.inv_freq.double()
        expected = 2 * torch.cos(offsets.double()[:, None] * w).sum(-1) / figure.HEAD_DIM * module.attention_factor**2
        torch.testing.assert_close(figure.offset_curve(label, offsets), expected, rtol=1e-9, atol=1e-9)
    assert figure.plot_rope(tmp_path / "rope.png").stat().st_size > 10_000


def test_inference_mode_tensors_are_rotated_and_a_changed_position_is_seen():
    """Inference tensors keep no version counter: the kept tables are checked by value instead."""
    rope, q = RotaryEmbedding(DH), torch.randn(1, 2, 3, DH)
    want = {p: rope(q, q, torch.tensor([p]))[0] for p in ((1, 2, 3), (7, 2, 3))}
    with torch.inference_mode():
        positions = torch.tensor([[1, 2, 3]])
        assert torch.equal(rope(q, q, positions)[0], want[(1, 2, 3)])
        assert torch.equal(rope(q, q, positions)[0], want[(1, 2, 3)])  # the kept tables
        positions[0, 0] = 7  # changed in place: computed again
        assert torch.equal(rope(q, q, positions)[0], want[(7, 2, 3)])


def test_a_llama_generates_the_same_under_inference_mode():
    from einformer import Llama, LlamaConfig

    torch.manual_seed(0)
    model = Llama(LlamaConfig.from_preset("tiny")).eval()
    ids = torch.randint(4, 99, (2, 6))
    kw = dict(max_new_tokens=5, min_new_tokens=5, do_sample=False)
    with torch.no_grad():
        want, logits = model.generate(ids, **kw), model(ids).logits
    with torch.inference_mode():
        assert torch.equal(model.generate(ids, **kw), want)
        assert torch.equal(model(ids).logits, logits)
