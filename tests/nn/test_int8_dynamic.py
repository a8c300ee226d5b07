"""W8A8 (``nn/int8_dynamic.py``, ``Int8Linear(activations="int8")``, ``einformer.quantize(..., "w8a8")``).

Oracles: the rounding written out in fp32 (``int8_dynamic.reference``: each row on its own grid,
then a plain product with the dequantized weight), the algebraic bound of that rounding against the
unrounded product, the same rows alone and inside a batch (bit for bit: a row's result must not
depend on its neighbours), the weight-only layer (the same stored integers), and the model itself
(quantize -> save -> load gives the same tensors and logits; fast and plain decoding agree).
"""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import einformer
from einformer import Llama, LlamaConfig
from einformer.nn import int8_dynamic
from einformer.nn.packed import FusedLinear
from einformer.nn.quantized import Int8Linear

pytestmark = pytest.mark.skipif(not int8_dynamic.available(), reason="this torch has no quantized operators")


def _layer(n=48, k=128, bias=True):
    torch.manual_seed(0)
    linear = nn.Linear(k, n, bias=bias)
    with torch.no_grad():
        linear.weight.mul_(torch.linspace(0.2, 3.0, n)[:, None])  # channels of different ranges
    return linear, Int8Linear.from_linear(linear, activations="int8")


@pytest.mark.parametrize("reduce_range", [False, True])
@pytest.mark.parametrize("rows", [1, 3, 8, 300])
def test_the_product_equals_the_rounding_written_out(monkeypatch, reduce_range, rows):
    monkeypatch.setattr(int8_dynamic, "reduce_range", lambda: reduce_range)
    _, q = _layer()
    x = torch.randn(rows, 128) * torch.linspace(0.01, 50, rows)[:, None]  # rows of very different sizes
    expected = int8_dynamic.reference(x, q.weight, q.scales) + q.bias
    with torch.no_grad():
        got = q(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())


def test_the_rounding_stays_within_its_bound_of_the_unrounded_product():
    linear, q = _layer()
    x = torch.randn(16, 128) * 4
    weight = q.dequantize()  # (N, K)
    exact = F.linear(x, weight, q.bias)
    levels = 127 if int8_dynamic.reduce_range() else 255
    half_step = x.abs().amax(-1, keepdim=True) / levels  # (M, 1): half of a row's step of 2 * max|x| / levels
    bound = half_step * weight.abs().sum(-1)  # (M, N): every input off by at most half a step
    with torch.no_grad():
        error = (q(x) - exact).abs()
    assert (error <= bound * (1 + 1e-4) + 1e-6).all()
    assert error.max() > 0  # it does round: this is not the weight-only product


def test_a_row_gives_the_same_bits_alone_and_in_any_batch():
    _, q = _layer()
    x = torch.randn(9, 128)
    x[4] *= 1000  # a loud neighbour must not coarsen the others' grid
    with torch.no_grad():
        together = q(x)
        alone = torch.cat([q(row[None]) for row in x])
    assert torch.equal(together, alone)


def test_a_bf16_model_gets_bf16_back_and_leading_dimensions_are_kept():
    _, q = _layer()
    x = torch.randn(2, 3, 128)
    with torch.no_grad():
        got = q(x.bfloat16())
        expected = q(x.bfloat16().float())
    assert got.dtype == torch.bfloat16 and got.shape == (2, 3, 48)
    torch.testing.assert_close(got.float(), expected, rtol=1e-2, atol=1e-2)


def test_without_the_operators_it_says_so_and_runs_weight_only(monkeypatch):
    linear, q = _layer()
    weight_only = Int8Linear.from_linear(linear).to(torch.bfloat16)
    monkeypatch.setattr(int8_dynamic, "available", lambda: False)
    q = q.to(torch.bfloat16)
    x = torch.randn(2, 128).bfloat16()
    with torch.no_grad(), pytest.warns(UserWarning, match="no 8-bit activation kernel; weight-only int8 instead"):
        got = q(x)
    assert torch.equal(got, weight_only(x))


def _tiny_llama():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=96, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=128, max_position=64)
    return Llama(config).eval()


def test_quantize_w8a8_keeps_fp32_quantizes_the_output_layer_and_reloads(tmp_path):
    model = einformer.quantize(_tiny_llama(), "w8a8")
    assert model.blocks[0].attn.q_proj.activations == "int8" and isinstance(model.lm_head, Int8Linear)
    assert model.embed.weight.dtype == model.blocks[0].attn_norm.weight.dtype == torch.float32
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["quantization_config"]["method"] == "w8a8"
    back = einformer.load(tmp_path).model
    assert back.quantization_config == model.quantization_config and back.lm_head.activations == "int8"
    for name, tensor in model.state_dict().items():  # the same integers as int8 writes: no quantizing again
        assert torch.equal(back.state_dict()[name], tensor), name
    ids = torch.randint(0, 96, (2, 7))
    with torch.no_grad():
        assert torch.equal(back(ids).logits, model(ids).logits)
        reference = _tiny_llama()(ids).logits
    assert (model(ids).logits - reference).abs().max() < 0.05 * reference.abs().max()


def test_fast_decoding_joins_q_k_v_and_gives_the_plain_tokens():
    from einformer.generation import decoders
    from einformer.generation.search import greedy_search

    model = einformer.quantize(_tiny_llama(), "w8a8")
    ids = torch.randint(0, 96, (3, 5))

    def greedy(fast):
        prompt, state = decoders.start(model, ids, None, "dynamic", ids.shape[1] + 8, fast=fast)
        return greedy_search(state, prompt, max_new_tokens=8, eos_token_id=[-1], pad_token_id=0)

    plain, fast = greedy(False), greedy(True)
    assert isinstance(model.blocks[0].attn.fused, FusedLinear)
    assert torch.equal(fast, plain)
    with torch.no_grad():
        x = torch.randn(3, 1, 64)
        attn = model.blocks[0].attn
        expected = torch.cat([attn.q_proj(x), attn.k_proj(x), attn.v_proj(x)], dim=-1)
        torch.testing.assert_close(attn.fused(x), expected)
