"""The single-token step of every layer stack equals its regular forward (the oracle), for every
layer option: pre- and post-norm, plain and gated feed-forward, padding, dynamic and static
caches, packed and plain weights. Then the same at model level, through generate."""

import copy

import pytest
import torch

from einformer import GPT, EncoderDecoderConfig, EncoderDecoderTransformer, GPTConfig
from einformer.generation import decoders
from einformer.generation.search import beam_search, greedy_search
from einformer.nn import CrossAttentionCache, DecoderLayer, DynamicCache, StaticCache, TransformerLayer, packed

D, H, B = 32, 4, 3


def _cache(kind: str, n: int = 1):
    return DynamicCache(n) if kind == "dynamic" else StaticCache(n, 16)


def _left_padding(b: int, s: int) -> torch.Tensor:
    mask = torch.ones(b, s, dtype=torch.long)
    mask[1, :2] = 0  # row 1 is left-padded by two
    mask[2, :1] = 0
    return mask


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["gelu_tanh", "swiglu"])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("cache_kind", ["dynamic", "static"])
@pytest.mark.parametrize("pack", [True, False])
def test_transformer_layer_step_equals_forward(norm_first, activation, padded, cache_kind, pack, monkeypatch):
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)  # pack even these small matrices
    layer = TransformerLayer(D, H, 48, activation=activation, norm_first=norm_first, causal=True).eval()
    prompt, new = torch.randn(B, 5, D), torch.randn(B, 1, D)
    mask = _left_padding(B, 6) if padded else None
    with torch.no_grad():
        cache = _cache(cache_kind)
        layer(prompt, None if mask is None else mask[:, :5], cache[0])
        reference_cache = copy.deepcopy(cache)
        expected, _ = layer(new, mask, reference_cache[0])  # forward on (B, 1, D)
        keep = None if mask is None else (mask != 0)[:, None, None, :]
        got = layer.step(new[:, 0], cache[0], keep, layer.step_weights(B, pack=pack))
    torch.testing.assert_close(got, expected[:, 0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cache[0].keys, reference_cache[0].keys, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(cache[0].values, reference_cache[0].values, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["relu", "geglu"])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("pack", [True, False])
def test_decoder_layer_step_equals_forward(norm_first, activation, padded, pack, monkeypatch):
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)
    layer = DecoderLayer(
        d_model=D,
        n_heads=H,
        d_ff=48,
        dropout=0.0,
        attention_dropout=0.0,
        activation=activation,
        norm_first=norm_first,
        eps=1e-5,
    ).eval()
    memory, target, new = torch.randn(B, 7, D), torch.randn(B, 4, D), torch.randn(B, 1, D)
    memory_mask = _left_padding(B, 7).flip(1) if padded else None  # source padding on the right
    with torch.no_grad():
        self_cache, cross = DynamicCache(1), CrossAttentionCache()
        layer(target, memory, memory_mask, self_cache=self_cache[0], cross_cache=cross)
        ref_self, ref_cross = copy.deepcopy(self_cache), copy.deepcopy(cross)
        expected, _, _ = layer(new, memory, memory_mask, self_cache=ref_self[0], cross_cache=ref_cross)
        keep = None if memory_mask is None else (memory_mask != 0)[:, None, None, :]
        got = layer.step(new[:, 0], self_cache[0], cross, keep, layer.step_weights(B, pack=pack))
    torch.testing.assert_close(got, expected[:, 0], rtol=1e-5, atol=1e-5)


def test_step_refuses_a_bidirectional_layer():
    layer = TransformerLayer(D, H, 48).eval()
    with pytest.raises(ValueError, match="causal"):
        layer.step(torch.randn(B, D), DynamicCache(1)[0], None, layer.step_weights(B))


def _seq2seq(norm_first: bool, activation: str = "relu") -> EncoderDecoderTransformer:
    config = EncoderDecoderConfig.from_preset(
        "tiny", src_vocab_size=40, tgt_vocab_size=40, norm_first=norm_first, activation=activation, dropout=0.0
    )
    return EncoderDecoderTransformer(config).eval()


def _run(model, ids, mask, cache, *, fast, num_beams=1):
    """Greedy or beam search through the shared loops with the fast step on or off."""
    prompt, state = decoders.start(model, ids, mask, cache, decoders.prompt_length(model, ids) + 12, fast=fast)
    loop = dict(max_new_tokens=12, eos_token_id=[model.config.eos_token_id], pad_token_id=0)
    if num_beams > 1:
        return beam_search(state, prompt, num_beams=num_beams, **loop).sequences
    return greedy_search(state, prompt, **loop)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["relu", "swiglu"])
@pytest.mark.parametrize("cache", ["dynamic", "static"])
@pytest.mark.parametrize("num_beams", [1, 4])
def test_encoder_decoder_decodes_the_same_tokens_with_the_step(norm_first, activation, cache, num_beams):
    torch.manual_seed(0)
    model = _seq2seq(norm_first, activation)
    ids = torch.randint(4, 40, (B, 9))
    mask = _left_padding(B, 9).flip(1)  # sources padded on the right
    with torch.no_grad():
        fast = _run(model, ids, mask, cache, fast=True, num_beams=num_beams)
        plain = _run(model, ids, mask, cache, fast=False, num_beams=num_beams)
        uncached = _run(model, ids, mask, "none", fast=False, num_beams=num_beams)
    assert torch.equal(fast, plain) and torch.equal(fast, uncached)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["gelu_tanh", "swiglu"])
def test_gpt_of_any_layer_option_decodes_the_same_tokens_with_the_step(norm_first, activation):
    torch.manual_seed(0)
    config = GPTConfig.from_preset(
        "tiny",
        norm_first=norm_first,
        activation=activation,
        dropout=0.0,
        embedding_dropout=0.0,
        attention_dropout=0.0,
        eos_token_id=3,
    )
    model = GPT(config).eval()
    ids = torch.randint(4, 99, (B, 6))
    mask = _left_padding(B, 6)
    with torch.no_grad():
        fast = _run(model, ids, mask, "static", fast=True)
        plain = _run(model, ids, mask, "static", fast=False)
        uncached = _run(model, ids, mask, "none", fast=False)
        logits_fast = model.generate(ids, mask, max_new_tokens=5, output_scores=True, return_dict_in_generate=True)
        logits_none = model.generate(
            ids, mask, max_new_tokens=5, output_scores=True, return_dict_in_generate=True, use_cache=False
        )
    assert torch.equal(fast, plain) and torch.equal(fast, uncached)
    for a, b in zip(logits_fast.scores, logits_none.scores, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
