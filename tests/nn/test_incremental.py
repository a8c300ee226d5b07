"""Incremental decoding equals one full forward (the oracle): a prompt, then one token at a time, then
K tokens at once, through a key/value cache, give the outputs of one forward over the whole sequence,
for every layer option (pre- and post-norm, plain and gated feed-forward, grouped-query attention,
an attention scale, RMSNorm, padding, dynamic and static caches, plain and prepared modules) and for
every model that caches (GPT, the encoder-decoder with cross-attention). There is one forward: no
layer or model has a second decoding path to hold equal to it."""

import pytest
import torch

from einformer import GPT, EncoderDecoderConfig, EncoderDecoderTransformer, GPTConfig
from einformer.config.llama import LlamaConfig
from einformer.generation import decoders
from einformer.generation.search import beam_search, greedy_search
from einformer.models.llama import Llama
from einformer.nn import (
    CrossAttentionCache,
    DecoderLayer,
    DynamicCache,
    EncoderDecoderCache,
    FeedForward,
    MultiHeadAttention,
    StaticCache,
    TransformerLayer,
    decoder_layer,
    packed,
    prepare_for_inference,
    transformer_layer,
)

D, H, B = 32, 4, 3
SPLITS = (5, 1, 1, 3)  # the prompt, two single tokens, then three proposed tokens at once
T = sum(SPLITS)


def _cache(kind: str, n: int = 1):
    return DynamicCache(n) if kind == "dynamic" else StaticCache(n, 16)


def _left_padding(b: int, s: int) -> torch.Tensor:
    mask = torch.ones(b, s, dtype=torch.long)
    mask[1, :2] = 0  # row 1 is left-padded by two
    mask[2, :1] = 0
    return mask


def _chunks():
    start = 0
    for n in SPLITS:
        yield start, start + n
        start += n


def test_no_layer_or_model_has_a_second_decoding_path():
    for cls in (MultiHeadAttention, FeedForward, TransformerLayer, DecoderLayer, GPT, EncoderDecoderTransformer):
        for name in ("step", "_step_many", "step_weights"):
            assert not hasattr(cls, name), f"{cls.__name__}.{name}"


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["gelu_tanh", "swiglu"])
@pytest.mark.parametrize("n_kv_heads", [4, 2, 1])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("cache_kind", ["dynamic", "static"])
@pytest.mark.parametrize("prepared", [False, True])
def test_transformer_layer_incremental_equals_full(norm_first, activation, n_kv_heads, padded, cache_kind, prepared,
                                                  monkeypatch):  # fmt: skip
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)  # pack even these small matrices
    torch.manual_seed(0)
    layer = transformer_layer(
        D, H, 48, activation=activation, norm_first=norm_first, causal=True, n_kv_heads=n_kv_heads
    ).eval()
    x = torch.randn(B, T, D)
    mask = _left_padding(B, T) if padded else None
    with torch.no_grad():
        expected, _ = layer(x, mask)  # one forward, plain modules, no cache
        if prepared:
            prepare_for_inference(layer, rows=B)
        cache, outs = _cache(cache_kind), []
        for a, b in _chunks():
            out, _ = layer(x[:, a:b], None if mask is None else mask[:, :b], cache[0])
            outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), expected, rtol=1e-5, atol=1e-5)
    assert cache[0].length == T


@pytest.mark.parametrize("norm", ["layer", "rms"])
@pytest.mark.parametrize("scale", [None, 0.05])
def test_rms_norm_and_scale_incremental_equals_full(norm, scale):
    torch.manual_seed(1)
    layer = transformer_layer(D, H, 48, norm=norm, norm_first=True, causal=True, scale=scale, bias=False).eval()
    x = torch.randn(B, T, D)
    with torch.no_grad():
        expected, _ = layer(x)
        cache, outs = DynamicCache(1), []
        for a, b in _chunks():
            outs.append(layer(x[:, a:b], None, cache[0])[0])
    torch.testing.assert_close(torch.cat(outs, 1), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["relu", "geglu"])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("prepared", [False, True])
def test_decoder_layer_incremental_equals_full(norm_first, activation, padded, prepared, monkeypatch):
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)
    torch.manual_seed(0)
    layer = decoder_layer(D, H, 48, activation=activation, norm_first=norm_first).eval()
    memory, target = torch.randn(B, 7, D), torch.randn(B, T, D)
    memory_mask = _left_padding(B, 7).flip(1) if padded else None  # source padding on the right
    with torch.no_grad():
        expected, _, _ = layer(target, memory, memory_mask)
        if prepared:
            prepare_for_inference(layer, rows=B)
        self_cache, cross, outs = DynamicCache(1), CrossAttentionCache(), []
        for a, b in _chunks():
            outs.append(layer(target[:, a:b], memory, memory_mask, self_cache=self_cache[0], cross_cache=cross)[0])
    torch.testing.assert_close(torch.cat(outs, 1), expected, rtol=1e-5, atol=1e-5)
    assert cross.frozen and self_cache.length == T


def _gpt(norm_first: bool, activation: str) -> GPT:
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
    return GPT(config).eval()


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["gelu_tanh", "swiglu"])
@pytest.mark.parametrize("cache_kind", ["dynamic", "static"])
@pytest.mark.parametrize("prepared", [False, True])
def test_gpt_incremental_logits_equal_one_forward(norm_first, activation, cache_kind, prepared, monkeypatch):
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)
    model = _gpt(norm_first, activation)
    ids, mask = torch.randint(4, 99, (B, T)), _left_padding(B, T)
    with torch.no_grad():
        expected = model(ids, mask).logits
        if prepared:
            prepare_for_inference(model, rows=B)
        cache, outs = _cache(cache_kind, model.n_cached_layers), []
        for a, b in _chunks():
            outs.append(model(ids[:, a:b], mask[:, :b], kv_cache=cache).logits)
    real = mask.bool()  # padded positions are never read; compare the real ones
    torch.testing.assert_close(torch.cat(outs, 1)[real], expected[real], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("window", [None, 4])
@pytest.mark.parametrize("qk_norm", [False, True])
@pytest.mark.parametrize("prepared", [False, True])
def test_llama_incremental_logits_equal_one_forward(window, qk_norm, prepared, monkeypatch):
    """Rotary positions, grouped-query attention, RMSNorm, SwiGLU, qk-norm and a sliding window shorter
    than the sequence, through the same one forward."""
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)
    torch.manual_seed(0)
    model = Llama(LlamaConfig.from_preset("tiny", sliding_window=window, qk_norm=qk_norm, qkv_bias=True)).eval()
    ids, mask = torch.randint(4, 99, (B, T)), _left_padding(B, T)
    with torch.no_grad():
        expected = model(ids, mask).logits
        if prepared:
            prepare_for_inference(model, rows=B)
        cache, outs = DynamicCache(model.n_cached_layers), []
        for a, b in _chunks():
            outs.append(model(ids[:, a:b], mask[:, :b], kv_cache=cache).logits)
    real = mask.bool()
    torch.testing.assert_close(torch.cat(outs, 1)[real], expected[real], rtol=1e-5, atol=1e-5)


def _seq2seq(norm_first: bool, activation: str = "relu") -> EncoderDecoderTransformer:
    torch.manual_seed(0)
    config = EncoderDecoderConfig.from_preset(
        "tiny", src_vocab_size=40, tgt_vocab_size=40, norm_first=norm_first, activation=activation, dropout=0.0
    )
    return EncoderDecoderTransformer(config).eval()


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("cache_kind", ["dynamic", "static"])
@pytest.mark.parametrize("prepared", [False, True])
def test_encoder_decoder_incremental_logits_equal_one_forward(norm_first, cache_kind, prepared, monkeypatch):
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)
    model = _seq2seq(norm_first, "swiglu")
    source, mask = torch.randint(4, 40, (B, 9)), _left_padding(B, 9).flip(1)
    target = torch.randint(4, 40, (B, T))
    with torch.no_grad():
        memory = model.encoder_states(source, mask)
        expected, _ = model.decode(target, memory, mask)
        if prepared:
            prepare_for_inference(model, rows=B)
        cache = EncoderDecoderCache(_cache(cache_kind, model.n_cached_layers))
        outs = [model.decode(target[:, a:b], memory, mask, cache=cache)[0] for a, b in _chunks()]
    torch.testing.assert_close(torch.cat(outs, 1), expected, rtol=1e-5, atol=1e-5)


def _run(model, ids, mask, cache, *, fast, num_beams=1):
    """Greedy or beam search through the shared loops with prepared (fast) or plain modules."""
    prompt, state = decoders.start(model, ids, mask, cache, decoders.prompt_length(model, ids) + 12, fast=fast)
    loop = dict(max_new_tokens=12, eos_token_id=[model.config.eos_token_id], pad_token_id=0)
    if num_beams > 1:
        return beam_search(state, prompt, num_beams=num_beams, **loop).sequences
    return greedy_search(state, prompt, **loop)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["relu", "swiglu"])
@pytest.mark.parametrize("cache", ["dynamic", "static"])
@pytest.mark.parametrize("num_beams", [1, 4])
def test_encoder_decoder_decodes_the_same_tokens_prepared_plain_and_uncached(norm_first, activation, cache,
                                                                             num_beams, monkeypatch):  # fmt: skip
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)
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
def test_gpt_decodes_the_same_tokens_prepared_plain_and_uncached(norm_first, activation, monkeypatch):
    monkeypatch.setattr(packed, "PACK_MIN_WORK", 0)
    model = _gpt(norm_first, activation)
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
