"""Weight-only int8 / int4 linear layers (``nn/quantized.py``) and ``einformer.quantize``.

Oracles: the algebra of each format (the dequantized weight is exactly integers times scales, and lies
within half a step of the original), ``F.linear`` on that dequantized weight (every kernel, the
fallback and the fused q/k/v product), and the model itself (quantize -> save -> load gives the same
tensors and the same outputs; decoding with the fast modules equals decoding with the plain ones).
"""

import copy
import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import einformer
from einformer import GPT, BertConfig, BertModel, GPTConfig, Llama, LlamaConfig
from einformer.generation import decoders
from einformer.generation.search import greedy_search
from einformer.models.bert_heads import BertForSequenceClassification
from einformer.nn.fast_call import Linear
from einformer.nn.packed import FusedLinear
from einformer.nn.quantized import ALIGNMENT, Int4Linear, Int8Linear, pack_int4, quantize_modules, unpack_int4

ROWS = (1, 3, 8, 300)  # 300: above KERNEL_MAX_ROWS, the widening path


def _linear(n=48, k=128, bias=True):
    layer = nn.Linear(k, n, bias=bias)
    with torch.no_grad():
        layer.weight.mul_(torch.linspace(0.2, 3.0, n)[:, None])  # channels of different ranges
    return layer


def test_int8_is_exact_algebra_within_half_a_step():
    linear = _linear()
    q = Int8Linear.from_linear(linear)
    assert q.weight.dtype == torch.int8 and q.scales.dtype == torch.bfloat16
    w = q.dequantize()
    assert torch.equal(w, q.weight.float() * q.scales.float()[:, None])
    step = q.scales.float()[:, None]
    assert ((w - linear.weight).abs() <= step / 2 + 1e-7).all()
    assert q.weight.abs().max() == 127


@pytest.mark.parametrize("group", [32, 64, 128])
def test_int4_is_exact_algebra_within_half_a_step(group):
    linear = _linear(n=32, k=256)
    q = Int4Linear.from_linear(linear, group)
    codes = q.unpacked().float().reshape(32, 256 // group, group)
    w = q.dequantize().reshape(32, 256 // group, group)
    assert torch.equal(w, (codes - 8) * q.scales.float()[..., None] + q.zeros.float()[..., None])
    error = (w - linear.weight.reshape(32, 256 // group, group)).abs()
    assert (error <= q.scales.float()[..., None] / 2 + 1e-6).all()
    assert 0 <= codes.min() and codes.max() <= 15


def test_int4_packing_round_trips():
    q = torch.randint(0, 16, (16, 64), dtype=torch.uint8)
    packed = pack_int4(q)
    assert packed.shape == (16, 32) and torch.equal(unpack_int4(packed), q)
    assert torch.equal(packed[:, 0] & 0xF, q[:, 0]) and torch.equal(packed[:, 0] >> 4, q[:, 1])


@pytest.mark.parametrize("make", [Int8Linear.from_linear, lambda lin: Int4Linear.from_linear(lin, 32)])
@pytest.mark.parametrize("rows", ROWS)
def test_each_kernel_equals_the_dequantized_product(make, rows):
    q = make(_linear())
    x = torch.randn(rows, 128)
    expected = F.linear(x.bfloat16().float(), q.dequantize(), q.bias.float())
    with torch.no_grad(), pytest.warns(UserWarning, match="activations are torch.float32, not torch.bfloat16"):
        exact = q(x.bfloat16().float())  # fp32 activations: the widening path, fp32 throughout, announced
        got = copy.deepcopy(q).to(torch.bfloat16)(x.bfloat16())
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected, atol=3e-2, rtol=1e-2)  # bf16 output rounding
    torch.testing.assert_close(exact, expected, atol=1e-5, rtol=1e-5)


def test_a_shape_the_int4_kernel_cannot_take_falls_back_once_and_stays_exact():
    q = Int4Linear.from_linear(_linear(n=40), 32).to(torch.bfloat16)  # the CPU kernel needs N % 16 == 0
    x = torch.randn(2, 128).bfloat16()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            got = q(x)
    assert len([w for w in caught if "divisible by 16" in str(w.message)]) == 1
    expected = F.linear(x, q.dequantize(torch.bfloat16), q.bias)
    torch.testing.assert_close(got, expected)


def test_int4_width_not_a_multiple_of_the_group_is_an_error_naming_the_layer():
    model = nn.Sequential(nn.Linear(96, 32), nn.Linear(32, 8))
    with pytest.raises(ValueError, match=r"layer 0 has in_features=96, not a multiple of group_size=64.*32"):
        quantize_modules(model, "int4", group_size=64)
    with pytest.raises(ValueError, match="group_size=48 is not supported"):
        quantize_modules(model, "int4", group_size=48)


@pytest.mark.parametrize("method", ["int8", "int4"])
def test_fused_qkv_equals_the_three_products(method):
    seq = nn.Sequential(_linear(n=32), _linear(n=16), _linear(n=16))
    quantize_modules(seq, method)
    seq.to(torch.bfloat16)
    layers = tuple(seq)
    fused = FusedLinear(layers, rows=1)
    x = torch.randn(1, 3, 128).bfloat16()
    with torch.no_grad():
        expected = torch.cat([layer(x) for layer in layers], dim=-1)
        torch.testing.assert_close(fused(x), expected)
        layers[1].weight.zero_()  # the joined copy follows an in-place change
        torch.testing.assert_close(fused(x)[..., 32:48], layers[1](x))


def _tiny_llama():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=96, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=128, max_position=64)
    return Llama(config).eval()


@pytest.mark.parametrize("method", ["int8", "int4"])
def test_quantize_save_load_gives_the_same_model(tmp_path, method):
    model = einformer.quantize(_tiny_llama(), method, group_size=32)
    assert isinstance(model.lm_head, nn.Linear) and isinstance(model.blocks[0].ffn.fc1, Int8Linear | Int4Linear)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())["quantization_config"]
    assert saved["method"] == method and "blocks.0.attn.q_proj" in saved["modules"]
    back = einformer.load(tmp_path).model
    assert back.quantization_config == model.quantization_config
    assert back.state_dict().keys() == model.state_dict().keys()
    for name, tensor in model.state_dict().items():  # the integers themselves: no quantizing again
        assert back.state_dict()[name].dtype == tensor.dtype and torch.equal(back.state_dict()[name], tensor), name
    ids = torch.randint(0, 96, (2, 7))
    with torch.no_grad():
        assert torch.equal(back(ids).logits, model(ids).logits)
    greedy = dict(max_new_tokens=6, do_sample=False)
    assert torch.equal(back.generate(ids, **greedy), model.generate(ids, **greedy))


@pytest.mark.parametrize("method", ["int8", "int4"])
def test_a_reloaded_quantized_gpt_runs_its_kernels_on_aligned_buffers(tmp_path, method):
    """safetensors hands tensors out at any offset in the file's buffer; torch's integer kernels
    crashed (a segmentation fault) on this tiny GPT's int8 weights at offset 24 before they were copied."""
    torch.manual_seed(0)
    model = einformer.quantize(GPT(GPTConfig.from_preset("tiny")).eval(), method, group_size=32)
    model.save_pretrained(tmp_path)
    back = GPT.from_pretrained(tmp_path)
    assert all(b.data_ptr() % ALIGNMENT == 0 for b in back.buffers())
    ids = torch.randint(0, 90, (2, 7))
    with torch.no_grad():
        assert torch.equal(back(ids).logits, model(ids).logits)


@pytest.mark.parametrize("method", ["int8", "int4"])
def test_a_quantized_bert_in_einformer_format_reloads_with_and_without_its_head(tmp_path, method):
    """BERT reads its own format through its own loader (heads swap in and out): it quantizes the saved
    layers too, under the names they have in the model it loads into."""
    torch.manual_seed(0)
    config = BertConfig.from_preset("tiny", vocab_size=100)
    head = einformer.quantize(BertForSequenceClassification(config).eval(), method, group_size=32)
    head.save_pretrained(tmp_path / "head")
    ids = torch.randint(0, 100, (2, 7))
    with torch.no_grad():
        back = BertForSequenceClassification.from_pretrained(tmp_path / "head")
        assert back.quantization_config == head.quantization_config
        assert torch.equal(back(ids).logits, head(ids).logits)
        encoder = BertModel.from_pretrained(tmp_path / "head")  # the encoder of the head's directory
        assert encoder.quantization_config.modules == tuple(
            n.removeprefix("bert.") for n in head.quantization_config.modules if n.startswith("bert.")
        )
        assert torch.equal(encoder(ids).last_hidden_state, head.bert(ids).last_hidden_state)
        encoder.save_pretrained(tmp_path / "encoder")
        with pytest.warns(UserWarning, match="start from random values"):  # a new head over the saved encoder
            again = BertForSequenceClassification.from_pretrained(tmp_path / "encoder", num_labels=3)
        assert isinstance(again.bert.layers[0].attn.q_proj, Int8Linear | Int4Linear)
        assert torch.equal(again.bert(ids).last_hidden_state, head.bert(ids).last_hidden_state)


def _greedy(model, ids, *, fast):
    prompt, state = decoders.start(model, ids, None, "dynamic", ids.shape[1] + 8, fast=fast)
    return greedy_search(state, prompt, max_new_tokens=8, eos_token_id=[-1], pad_token_id=0)


@pytest.mark.parametrize("method", ["int8", "int4"])
def test_decoding_with_fast_modules_equals_plain_modules(method):
    model = einformer.quantize(_tiny_llama(), method)
    ids = torch.randint(0, 96, (3, 5))
    plain = _greedy(model, ids, fast=False)  # one product per layer, the widening path for the prompt
    fast = _greedy(model, ids, fast=True)  # joined q/k/v, the integer kernels
    assert isinstance(model.blocks[0].attn.fused, FusedLinear)
    assert torch.equal(fast, plain)
    with torch.no_grad():  # and the joined q/k/v product equals the three
        x = torch.randn(3, 1, 64).bfloat16()
        attn = model.blocks[0].attn
        expected = torch.cat([attn.q_proj(x), attn.k_proj(x), attn.v_proj(x)], dim=-1)
        torch.testing.assert_close(attn.fused(x), expected)


def test_bf16_and_fp32_decode_the_same_tokens_and_int8_stays_close():
    model = _tiny_llama()
    ids = torch.randint(0, 96, (2, 6))
    greedy = dict(max_new_tokens=8, do_sample=False)
    wide = model.generate(ids, **greedy)
    narrow = _tiny_llama().to(torch.bfloat16)
    assert torch.equal(narrow.generate(ids, **greedy), wide)
    with torch.no_grad():
        reference = model(ids).logits
        int8 = einformer.quantize(_tiny_llama(), "int8")(ids).logits.float()
    assert (int8 - reference).abs().max() < 0.05 * reference.abs().max()


def test_quantizing_twice_and_unknown_methods_are_refused():
    model = einformer.quantize(_tiny_llama(), "int8")
    with pytest.raises(ValueError, match="quantized already"):
        einformer.quantize(model, "int4")
    with pytest.raises(ValueError, match="choose one of \\('int8', 'int4', 'w8a8'\\)"):
        quantize_modules(nn.Sequential(nn.Linear(4, 4)), "int2")


def test_a_layer_left_out_keeps_its_own_product_beside_the_quantized_ones():
    model = einformer.quantize(_tiny_llama(), "int8", skip=("blocks.0.attn.q_proj",))
    assert type(model.blocks[0].attn.q_proj) is Linear and isinstance(model.blocks[0].attn.k_proj, Int8Linear)
    ids = torch.randint(0, 96, (2, 5))
    assert torch.equal(_greedy(model, ids, fast=True), _greedy(model, ids, fast=False))
