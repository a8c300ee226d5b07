"""Token-by-token decoding with either cache equals the full causal pass; reorder and crop."""

import pytest
import torch
from torch.testing import assert_close

from einformer.nn import CrossAttentionCache, DynamicCache, MultiHeadAttention, StaticCache


def stack(n_layers=2, **kw):
    return [MultiHeadAttention(16, 4, **kw).double().eval() for _ in range(n_layers)]


def run(layers, x, cache=None, mask=None):
    for i, layer in enumerate(layers):
        x = x + layer(x, is_causal=True, attention_mask=mask, kv_cache=None if cache is None else cache[i])[0]
    return x


@pytest.mark.parametrize("make_cache", [lambda: DynamicCache(2), lambda: StaticCache(2, max_length=10)])
@pytest.mark.parametrize("n_kv_heads", [None, 2])
def test_incremental_equals_full_pass(make_cache, n_kv_heads):
    layers = stack(n_kv_heads=n_kv_heads)
    x = torch.randn(3, 9, 16, dtype=torch.float64)
    full = run(layers, x)
    cache = make_cache()
    pieces = [run(layers, x[:, :4], cache)]  # a 4-token prompt, then one token at a time
    for t in range(4, 9):
        pieces.append(run(layers, x[:, t : t + 1], cache))
    assert cache.length == 9
    assert_close(torch.cat(pieces, 1), full, atol=1e-12, rtol=0)


def test_incremental_with_left_padding_mask_equals_full_pass():
    layers = stack()
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    full = run(layers, x, mask=mask)
    cache = DynamicCache(2)
    pieces = [run(layers, x[:, :3], cache, mask[:, :3])]
    for t in range(3, 6):
        pieces.append(run(layers, x[:, t : t + 1], cache, mask[:, : t + 1]))
    assert_close(torch.cat(pieces, 1)[0, 2:], full[0, 2:], atol=1e-12, rtol=0)
    assert_close(torch.cat(pieces, 1)[1], full[1], atol=1e-12, rtol=0)


@pytest.mark.parametrize("make_cache", [lambda: DynamicCache(2), lambda: StaticCache(2, max_length=8)])
def test_reorder_keeps_the_chosen_rows(make_cache):
    layers = stack()
    x = torch.randn(3, 5, 16, dtype=torch.float64)
    cache = make_cache()
    run(layers, x[:, :4], cache)
    index = torch.tensor([2, 2, 0])
    cache.reorder(index)
    step = run(layers, x[index, 4:5], cache)
    assert_close(step, run(layers, x[index])[:, 4:5], atol=1e-12, rtol=0)


@pytest.mark.parametrize("make_cache", [lambda: DynamicCache(2), lambda: StaticCache(2, max_length=8)])
def test_crop_rolls_back(make_cache):
    layers = stack()
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    cache = make_cache()
    run(layers, x[:, :5], cache)
    cache.crop(3)
    assert cache.length == 3
    other = torch.randn(2, 1, 16, dtype=torch.float64)  # a different 4th token after rollback
    expected = run(layers, torch.cat([x[:, :3], other], 1))[:, 3:]
    assert_close(run(layers, other, cache), expected, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="crop length"):
        cache.crop(-1)


def test_static_cache_overflow_is_a_clear_error():
    cache = StaticCache(1, max_length=3)
    layer = MultiHeadAttention(8, 2)
    layer(torch.randn(1, 3, 8), is_causal=True, kv_cache=cache[0])
    with pytest.raises(ValueError, match="max_length=3 cannot take 1 more"):
        layer(torch.randn(1, 1, 8), is_causal=True, kv_cache=cache[0])


def test_cross_attention_cache_projects_memory_once():
    layer = MultiHeadAttention(16, 4, kv_dim=8).eval()
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 8)
    cache = CrossAttentionCache()
    first, _ = layer(x, memory, kv_cache=cache)
    assert cache.frozen and cache.length == 5
    calls = []
    handle = layer.k_proj.register_forward_hook(lambda *a: calls.append(1))
    again, _ = layer(x, memory, kv_cache=cache)
    handle.remove()
    assert calls == []
    assert_close(again, first)
    cache.reorder(torch.tensor([1, 1]))
    assert_close(layer(x[[1, 1]], kv_cache=cache)[0], first[[1, 1]])


def test_static_reorder_to_a_new_batch_size():
    layers = stack()
    x = torch.randn(2, 4, 16, dtype=torch.float64)
    cache = StaticCache(2, max_length=8)
    run(layers, x[:, :3], cache)
    index = torch.tensor([0, 0, 1, 1])
    cache.reorder(index)
    assert_close(run(layers, x[index, 3:4], cache), run(layers, x[index])[:, 3:4], atol=1e-12, rtol=0)
