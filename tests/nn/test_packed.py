"""PackedLinear (oneDNN-packed weights for decoding) against F.linear, the oracle."""

import pytest
import torch
import torch.nn.functional as F

from einformer.nn.packed import PackedLinear, onednn_packing_available


@pytest.mark.parametrize("rows_hint", [1, 4, 8])
@pytest.mark.parametrize("bias", [True, False])
def test_packed_linear_equals_f_linear_for_any_number_of_rows(rows_hint, bias):
    g = torch.Generator().manual_seed(rows_hint)
    weight = torch.randn(96, 40, generator=g) * 0.1
    b = torch.randn(96, generator=g) if bias else None
    layer = PackedLinear(weight, b, rows_hint, min_work=0)
    for shape in [(1, 40), (3, 40), (8, 40), (5, 1, 40)]:  # rows other than the hint, and (B, 1, D)
        x = torch.randn(*shape, generator=g)
        torch.testing.assert_close(layer(x), F.linear(x, weight, b), rtol=1e-5, atol=1e-5)


def test_packing_is_used_on_cpu_fp32_and_skipped_otherwise():
    weight = torch.randn(8, 4)
    assert (PackedLinear(weight, None, 1, min_work=0).packed is not None) == onednn_packing_available(weight)
    assert PackedLinear(weight, None, 1).packed is None  # too little work to pay for oneDNN's call
    assert PackedLinear(weight, None, 1, pack=False).packed is None
    double = PackedLinear(weight.double(), None, 1)  # fp64: plain F.linear, exact
    x = torch.randn(2, 4, dtype=torch.float64)
    assert double.packed is None and torch.equal(double(x), F.linear(x, weight.double()))


def test_decode_step_with_packed_weights_equals_the_plain_one(monkeypatch):
    """The GPT's single-token step: packed and unpacked weights give the same logits (1e-5)."""
    from einformer import GPT, GPTConfig
    from einformer.nn import packed

    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)  # pack even this tiny model's matrices
    from einformer.nn import DynamicCache

    torch.manual_seed(0)
    config = GPTConfig(vocab_size=99, d_model=32, n_layers=2, n_heads=4, bos_token_id=0, eos_token_id=0)
    model = GPT(config).eval()
    ids = torch.randint(0, 99, (3, 7))
    with torch.no_grad():
        logits = []
        for pack in (True, False):
            cache = DynamicCache(2)
            model(ids, kv_cache=cache)
            weights = model.step_weights(rows=3, pack=pack)
            logits.append(model.step(ids[:, -1], cache, None, weights))
        full = model(torch.cat([ids, ids[:, -1:]], dim=1)).logits[:, -1]
    torch.testing.assert_close(logits[0], logits[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits[1], full, rtol=1e-5, atol=1e-5)
