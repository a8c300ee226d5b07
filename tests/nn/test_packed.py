"""Packed and fused linear layers (``nn/packed.py``) against F.linear and the plain modules, the oracles;
``prepare_for_inference`` swaps modules without changing what a model saves or how it trains."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from einformer import GPT, GPTConfig
from einformer.nn import packed
from einformer.nn.fast_call import Linear
from einformer.nn.packed import FusedLinear, PackedLinear, is_prepared, onednn_packing_available, release


@pytest.mark.parametrize("rows_hint", [1, 4, 8])
@pytest.mark.parametrize("bias", [True, False])
def test_packed_linear_equals_f_linear_for_any_number_of_rows(rows_hint, bias, monkeypatch):
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)
    torch.manual_seed(rows_hint)
    linear = nn.Linear(40, 96, bias=bias)
    layer = PackedLinear.from_linear(linear, rows_hint)
    assert layer.weight is linear.weight and layer.bias is linear.bias  # shared, not copied
    with torch.no_grad():
        for shape in [(1, 40), (3, 40), (8, 40), (5, 1, 40), (2, 100, 40)]:  # above PACK_MAX_ROWS too
            x = torch.randn(*shape)
            torch.testing.assert_close(layer(x), F.linear(x, linear.weight, linear.bias), rtol=1e-5, atol=1e-5)


def test_fused_linear_equals_the_separate_products(monkeypatch):
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)
    torch.manual_seed(0)
    q, k, v = nn.Linear(32, 32), nn.Linear(32, 16), nn.Linear(32, 8)
    x = torch.randn(3, 2, 32)
    for pack in (True, False):
        with torch.no_grad():
            got = FusedLinear((q, k, v), 3, pack=pack)(x).split([32, 16, 8], dim=-1)
        for g, lin in zip(got, (q, k, v), strict=True):
            torch.testing.assert_close(g, lin(x).detach(), rtol=1e-5, atol=1e-5)


def test_packing_is_used_on_cpu_fp32_and_skipped_otherwise(monkeypatch):
    small, x = nn.Linear(4, 8), torch.randn(2, 4)
    layer = PackedLinear.from_linear(small, 1)
    with torch.no_grad():
        layer(x)
    assert layer.kernel.packed is None  # too little work to pay for oneDNN's call
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)
    layer = PackedLinear.from_linear(small, 1)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), small(x), rtol=1e-5, atol=1e-5)
    assert (layer.kernel.packed is not None) == onednn_packing_available(small.weight)
    double = PackedLinear.from_linear(nn.Linear(4, 8).double(), 1)  # fp64: plain F.linear, exact
    x = torch.randn(2, 4, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(double(x), F.linear(x, double.weight, double.bias)) and double.kernel.packed is None


def test_a_replaced_parameter_is_seen(monkeypatch):
    """``load_state_dict(assign=True)`` puts new tensors in place: the packed copy follows them."""
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)
    torch.manual_seed(0)
    linear = nn.Linear(16, 32)
    model = nn.Sequential(linear)
    packed.prepare_for_inference(model, rows=2)
    x = torch.randn(2, 16)
    with torch.no_grad():
        model(x)
        new = {k: torch.randn_like(v) for k, v in model.state_dict().items()}
        model.load_state_dict(new, assign=True)
        torch.testing.assert_close(model(x), F.linear(x, new["0.weight"], new["0.bias"]), rtol=1e-5, atol=1e-5)


def _gpt() -> GPT:
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=99, d_model=32, n_layers=2, n_heads=4, bos_token_id=0, eos_token_id=0)
    return GPT(config).eval()


def test_prepare_keeps_the_state_dict_the_parameters_and_the_gradients(monkeypatch):
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)
    model, ids = _gpt(), torch.randint(0, 99, (3, 7))
    plain = copy.deepcopy(model)
    keys, params = list(model.state_dict()), list(model.parameters())
    packed.prepare_for_inference(model, rows=3)
    assert is_prepared(model) and isinstance(model.blocks[0].ffn.fc1, PackedLinear)
    assert model.blocks[0].attn.fused is not None
    assert list(model.state_dict()) == keys and all(a is b for a, b in zip(model.parameters(), params, strict=True))
    assert model.lm_head.weight is model.embed.weight  # tying survives the swap
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, plain(ids).logits, rtol=1e-5, atol=1e-5)
    # with autograd the swapped modules run F.linear on the same parameters: the same gradients
    model(ids, labels=ids).loss.backward()
    plain(ids, labels=ids).loss.backward()
    for a, b in zip(model.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6)
    twin = copy.deepcopy(model)  # the packed copies are not copied: the twin packs its own
    with torch.no_grad():
        torch.testing.assert_close(twin(ids).logits, plain(ids).logits, rtol=1e-5, atol=1e-5)
    release(model)
    assert not is_prepared(model) and type(model.blocks[0].ffn.fc1) is Linear  # the class the model was built with
    assert all(a is b for a, b in zip(model.parameters(), params, strict=True))
