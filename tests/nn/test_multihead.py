"""MultiHeadAttention against torch.nn.MultiheadAttention and a per-head loop."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from einformer.nn import MultiHeadAttention


def copy_into(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    """Copy torch's projections into ours (packed in_proj when q, k, v widths agree)."""
    d = theirs.embed_dim
    with torch.no_grad():
        if theirs._qkv_same_embed_dim:
            wq, wk, wv = theirs.in_proj_weight.split(d)
        else:
            wq, wk, wv = theirs.q_proj_weight, theirs.k_proj_weight, theirs.v_proj_weight
        bq, bk, bv = theirs.in_proj_bias.split(d)
        for lin, w, b in ((ours.q_proj, wq, bq), (ours.k_proj, wk, bk), (ours.v_proj, wv, bv)):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
        ours.out_proj.bias.copy_(theirs.out_proj.bias)


@pytest.mark.parametrize("kdim,vdim", [(None, None), (20, 20), (20, 12)])
@pytest.mark.parametrize("average", [True, False])
def test_equals_torch_multihead_attention(kdim, vdim, average):
    d, h, b, t, s = 24, 4, 3, 5, 7
    theirs = nn.MultiheadAttention(d, h, batch_first=True, kdim=kdim, vdim=vdim).eval()
    for p in theirs.parameters():  # torch zeroes biases at init; randomise so they are tested
        nn.init.normal_(p, std=0.3)
    ours = MultiHeadAttention(d, h, kv_dim=kdim, value_dim=vdim).eval()
    copy_into(ours, theirs)
    query = torch.randn(b, t, d)
    key = torch.randn(b, s, kdim or d)
    value = torch.randn(b, s, vdim or d)
    lengths = torch.tensor([7, 4, 1])
    keep = torch.arange(s)[None, :] < lengths[:, None]  # (B, S), True = token
    attn_mask = torch.randn(t, s)  # additive float mask, shared by the batch
    padding = torch.zeros(b, s).masked_fill(~keep, float("-inf"))  # torch: additive, like attn_mask
    out_t, w_t = theirs(
        query,
        key,
        value,
        key_padding_mask=padding,
        attn_mask=attn_mask,
        need_weights=True,
        average_attn_weights=average,
    )
    # ours: padding as a (B, S) 1 = keep mask, combined with the additive mask into (B, 1, T, S)
    combined = attn_mask.expand(b, 1, t, s).masked_fill(~keep[:, None, None, :], float("-inf"))
    out_o, w_o = ours(query, key, value, attention_mask=combined, need_weights=True)
    assert_close(out_o, out_t, atol=1e-5, rtol=1e-5)
    assert_close(w_o.mean(1) if average else w_o, w_t, atol=1e-5, rtol=1e-5)
    out_pad, _ = ours(query, key, value, attention_mask=keep.long())
    out_tpad, _ = theirs(query, key, value, key_padding_mask=~keep, need_weights=False)
    assert_close(out_pad, out_tpad, atol=1e-5, rtol=1e-5)


def test_self_attention_with_boolean_attn_mask_matches_torch():
    d, h = 16, 2
    theirs = nn.MultiheadAttention(d, h, batch_first=True).eval()
    ours = MultiHeadAttention(d, h).eval()
    copy_into(ours, theirs)
    x = torch.randn(2, 6, d)
    blocked = torch.ones(6, 6, dtype=torch.bool).triu(1)  # torch: True = blocked
    out_t, _ = theirs(x, x, x, attn_mask=blocked, need_weights=False)
    out_o, _ = ours(x, is_causal=True)
    assert_close(out_o, out_t, atol=1e-5, rtol=1e-5)
    out_o2, _ = ours(x, attention_mask=(~blocked).expand(2, 6, 6))  # (B, T, S) keep-mask
    assert_close(out_o2, out_t, atol=1e-5, rtol=1e-5)


def test_different_qk_and_v_widths_against_per_head_loop():
    torch.set_default_dtype(torch.float64)
    try:
        mha = MultiHeadAttention(12, 3, d_qk=5, d_v=7, kv_dim=9).eval()
        x, mem = torch.randn(2, 4, 12), torch.randn(2, 6, 9)
        out, w = mha(x, mem, need_weights=True)
        q, k, v = mha.q_proj(x), mha.k_proj(mem), mha.v_proj(mem)
        heads = []
        for i in range(3):
            qi, ki, vi = q[..., i * 5 : (i + 1) * 5], k[..., i * 5 : (i + 1) * 5], v[..., i * 7 : (i + 1) * 7]
            wi = torch.softmax(qi @ ki.transpose(1, 2) / 5**0.5, dim=-1)
            assert_close(w[:, i], wi, atol=1e-12, rtol=0)
            heads.append(wi @ vi)
        assert_close(out, mha.out_proj(torch.cat(heads, -1)), atol=1e-12, rtol=0)
    finally:
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("n_kv_heads", [1, 2])
def test_grouped_query_equals_multihead_with_repeated_kv_weights(n_kv_heads):
    d, h, dh = 16, 4, 4
    gqa = MultiHeadAttention(d, h, n_kv_heads=n_kv_heads).double()
    full = MultiHeadAttention(d, h).double()
    groups = h // n_kv_heads
    with torch.no_grad():
        full.q_proj.load_state_dict(gqa.q_proj.state_dict())
        full.out_proj.load_state_dict(gqa.out_proj.state_dict())
        for src, dst in ((gqa.k_proj, full.k_proj), (gqa.v_proj, full.v_proj)):
            dst.weight.copy_(src.weight.view(n_kv_heads, dh, d).repeat_interleave(groups, 0).reshape(h * dh, d))
            dst.bias.copy_(src.bias.view(n_kv_heads, dh).repeat_interleave(groups, 0).reshape(-1))
    x = torch.randn(2, 5, d, dtype=torch.float64)
    assert gqa.k_proj.weight.shape == (n_kv_heads * dh, d)
    for kw in ({}, {"is_causal": True}, {"need_weights": True}):
        assert_close(gqa(x, **kw)[0], full(x, **kw)[0], atol=1e-12, rtol=0)


def test_need_weights_does_not_change_output():
    mha = MultiHeadAttention(16, 4).eval()
    x = torch.randn(2, 5, 16)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    a, _ = mha(x, attention_mask=mask, is_causal=True)
    b, w = mha(x, attention_mask=mask, is_causal=True, need_weights=True)
    assert_close(a, b, atol=1e-6, rtol=1e-6)
    assert w.shape == (2, 4, 5, 5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(d_model=10, n_heads=3), "does not divide d_model=10"),
        (dict(d_model=12, n_heads=4, n_kv_heads=3), "n_kv_heads=3 must divide n_heads=4"),
        (dict(d_model=12, n_heads=4, dropout=1.0), "dropout"),
    ],
)
def test_bad_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(**kwargs)


def test_widths_not_dividing_are_fine_when_given():
    mha = MultiHeadAttention(10, 3, d_qk=4, d_v=2)
    assert mha(torch.randn(1, 2, 10))[0].shape == (1, 2, 10)


def test_bad_inputs_name_the_shapes():
    mha = MultiHeadAttention(16, 4, kv_dim=8)
    with pytest.raises(ValueError, match=r"query must be \(batch, length, 16\) or, one position per row, "
                       r"\(batch, 16\); got \(2, 3, 15\)"):  # fmt: skip
        mha(torch.randn(2, 3, 15), torch.randn(2, 4, 8))
    with pytest.raises(ValueError, match=r"query must be .*; got \(2, 15\)"):
        mha(torch.randn(2, 15), torch.randn(2, 4, 8))
    with pytest.raises(ValueError, match=r"query must be .*; got \(16,\)"):
        mha(torch.randn(16))
    with pytest.raises(ValueError, match=r"query must be .*; got \(\)"):
        mha(torch.randn(()))
    # an unbatched (T, D) sequence, which torch's attention reads as one sequence, is refused here
    with pytest.raises(ValueError, match=r"a 2-D query \(5, 16\) is one decoded position per row and needs "
                       r"the layer's kv_cache; for one unbatched sequence pass query\[None\]"):  # fmt: skip
        mha(torch.randn(5, 16), torch.randn(1, 4, 8))
    with pytest.raises(ValueError, match=r"key must be \(batch, length, 8\); got \(2, 4, 16\)"):
        mha(torch.randn(2, 3, 16), torch.randn(2, 4, 16))
    with pytest.raises(ValueError, match=r"attention_mask of shape \(2, 3\) does not match"):
        mha(torch.randn(2, 3, 16), torch.randn(2, 4, 8), attention_mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="does not broadcast"):
        mha(torch.randn(2, 3, 16), torch.randn(2, 4, 8), attention_mask=torch.ones(2, 5, 4, dtype=torch.bool))
    self_attention = MultiHeadAttention(16, 4)  # a value without a key: its width is checked too
    with pytest.raises(ValueError, match=r"value must be \(batch, length, 16\); got \(2, 3, 12\)"):
        self_attention(torch.randn(2, 3, 16), value=torch.randn(2, 3, 12))
    with pytest.raises(ValueError, match=r"a 2-D query \(one position per row\) reads its keys and values"):
        self_attention(torch.randn(2, 16), value=torch.randn(2, 3, 16))


def test_a_value_without_a_key_is_used_when_the_projections_are_fused():
    """Before: once prepared (q/k/v as one product), ``mha(x, value=v)`` read x as the values."""
    from einformer.nn.packed import prepare_for_inference

    torch.manual_seed(0)
    mha, x, v = MultiHeadAttention(16, 4).eval(), torch.randn(2, 3, 16), torch.randn(2, 3, 16)
    with torch.no_grad():
        want = mha(x, value=v)[0]
        assert not torch.allclose(want, mha(x)[0])
        prepare_for_inference(mha, 2, pack=False)
        assert_close(mha(x, value=v)[0], want)


def _attention(kind: str) -> MultiHeadAttention:
    from einformer.nn.norms import RMSNorm
    from einformer.nn.rotary import RotaryEmbedding

    if kind == "grouped, rotary, qk-norm":  # the Llama / Qwen3 attention
        return MultiHeadAttention(16, 4, n_kv_heads=2, bias=False, rotary=RotaryEmbedding(4), q_norm=RMSNorm(4),
                                  k_norm=RMSNorm(4))  # fmt: skip
    widths = {"plain": {}, "grouped": {"n_kv_heads": 1}, "qk and v widths": {"d_qk": 6, "d_v": 2}}[kind]
    return MultiHeadAttention(16, 4, **widths)


@pytest.mark.parametrize("kind", ["plain", "grouped", "qk and v widths", "grouped, rotary, qk-norm"])
@pytest.mark.parametrize("fused", [False, True])
def test_a_2d_query_is_one_position_per_row(kind, fused):
    """Decoder models pass a decoded token as (B, D): the same keys, values and output as (B, 1, D)."""
    from einformer.nn.kv_cache import DynamicCache
    from einformer.nn.packed import prepare_for_inference

    torch.manual_seed(0)
    mha = _attention(kind).eval()
    prompt, token, padding = torch.randn(3, 5, 16), torch.randn(3, 16), torch.ones(3, 6, dtype=torch.long)
    padding[0, :2] = 0  # a left-padded row
    positions = torch.tensor([[3], [5], [5]])
    with torch.no_grad():
        if fused:
            prepare_for_inference(mha, 3, pack=False)
        caches = DynamicCache(1), DynamicCache(1)
        for cache in caches:
            mha(prompt, is_causal=True, kv_cache=cache[0], attention_mask=padding[:, :5],
                position_ids=torch.arange(5)[None].expand(3, 5))  # fmt: skip
        args = dict(is_causal=True, attention_mask=padding, position_ids=positions)
        flat, _ = mha(token, kv_cache=caches[0][0], **args)
        rows, _ = mha(token[:, None], kv_cache=caches[1][0], **args)
    assert flat.shape == (3, 16) and rows.shape == (3, 1, 16)
    assert_close(flat, rows[:, 0], rtol=0, atol=1e-6)
    assert torch.equal(caches[0][0].keys, caches[1][0].keys) and torch.equal(caches[0][0].values, caches[1][0].values)


def test_a_2d_query_attends_to_a_cached_memory():
    """Cross-attention: a 2-D query against the encoder's keys and values, cached on the first call."""
    from einformer.nn.kv_cache import CrossAttentionCache

    torch.manual_seed(0)
    mha, memory, token = MultiHeadAttention(16, 4, kv_dim=8).eval(), torch.randn(2, 7, 8), torch.randn(2, 16)
    keep = torch.ones(2, 7, dtype=torch.bool)
    keep[1, 4:] = False
    with torch.no_grad():
        want, _ = mha(token[:, None], memory, attention_mask=keep)
        cache = CrossAttentionCache()
        first, _ = mha(token, memory, attention_mask=keep, kv_cache=cache)
        again, _ = mha(token, memory, attention_mask=keep, kv_cache=cache)  # reads the frozen cache
    assert cache.frozen
    assert_close(first, want[:, 0], rtol=0, atol=1e-6)
    assert_close(again, want[:, 0], rtol=0, atol=1e-6)
