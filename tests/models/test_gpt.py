"""GPT: learning, causality, save/load in both formats, and the strict GPT-2 key map."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch.testing import assert_close

from einformer import GPT, CheckpointError, GPTConfig


def tiny(**kw):
    base = dict(dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0, bos_token_id=1, eos_token_id=2)
    return GPT(GPTConfig.from_preset("tiny", **{**base, **kw}))


def test_overfits_and_shifts_labels():
    model = tiny()
    ids = torch.randint(3, 99, (2, 12))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(120):
        loss = model(ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    out = model.generate(ids[:, :4], max_new_tokens=8, eos_token_id=[])
    assert torch.equal(out, ids)


def test_loss_is_next_token_cross_entropy():
    model = tiny().eval()
    ids = torch.randint(3, 99, (2, 6))
    labels = ids.clone()
    labels[1, 4:] = -100
    logp = model(ids).logits.log_softmax(-1)
    terms = [-logp[b, t, ids[b, t + 1]] for b in range(2) for t in range(5) if labels[b, t + 1] != -100]
    assert_close(model(ids, labels=labels).loss, torch.stack(terms).mean())


def test_causal():
    model = tiny().eval()
    ids = torch.randint(3, 99, (2, 10))
    base = model(ids).logits
    for j in range(10):
        changed = ids.clone()
        changed[:, j:] = torch.randint(3, 99, changed[:, j:].shape)
        assert_close(model(changed).logits[:, :j], base[:, :j], atol=1e-6, rtol=0)


def test_context_limit_is_a_clear_error():
    model = tiny()
    with pytest.raises(ValueError, match="exceed the model's context of max_position=64"):
        model(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(ValueError, match="exceed the context of max_position=64"):
        model.generate(torch.zeros(1, 60, dtype=torch.long), max_new_tokens=10)


def test_a_cache_of_another_depth_is_a_clear_error():
    from einformer.nn import DynamicCache

    model = tiny()
    n = len(model.blocks)
    for layers in (n - 1, n + 1):  # before: a bare zip() error, or the first layers' caches silently used
        with pytest.raises(ValueError, match=f"kv_cache has {layers} layers and this model {n}"):
            model(torch.zeros(1, 3, dtype=torch.long), kv_cache=DynamicCache(layers))


@pytest.mark.parametrize("fmt", ["einformer", "hf"])
def test_save_load_round_trip(tmp_path, fmt):
    model = tiny().eval()
    model.save_pretrained(tmp_path, format=fmt)
    loaded = GPT.from_pretrained(tmp_path)
    ids = torch.randint(3, 99, (2, 7))
    assert torch.equal(loaded(ids).logits, model(ids).logits)
    assert loaded.lm_head.weight is loaded.embed.weight
    if fmt == "hf":
        assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "gpt2"


def test_pytorch_model_bin_is_read_with_weights_only(tmp_path):
    model = tiny().eval()
    model.save_pretrained(tmp_path, format="hf")
    state = load_file(tmp_path / "model.safetensors")
    (tmp_path / "model.safetensors").unlink()
    torch.save(state, tmp_path / "pytorch_model.bin")
    ids = torch.randint(3, 99, (1, 5))
    assert torch.equal(GPT.from_pretrained(tmp_path)(ids).logits, model(ids).logits)
    torch.save({"weights": state, "evil": GPTConfig}, tmp_path / "pytorch_model.bin")  # a pickled class
    with pytest.raises(CheckpointError, match="cannot read .* safely"):
        GPT.from_pretrained(tmp_path)


def test_strict_gpt2_key_map(tmp_path):
    tiny().save_pretrained(tmp_path, format="hf")
    state = load_file(tmp_path / "model.safetensors")
    state["transformer.h.0.attn.extra"] = torch.zeros(2)
    state["transformer.h.1.attn.bias"] = torch.ones(1, 1, 4, 4)  # an old causal-mask buffer: ignored
    del state["transformer.ln_f.bias"]
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"unexpected keys \(1\): h.0.attn.extra"):
        GPT.from_pretrained(tmp_path)
    del state["transformer.h.0.attn.extra"]
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): final_norm.bias"):
        GPT.from_pretrained(tmp_path)
    state["transformer.ln_f.bias"] = torch.zeros(32)
    state["transformer.h.0.attn.c_attn.weight"] = torch.zeros(32, 95)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"c_attn.weight: \(32, 95\), expected last dim 3 \* n_embd = 96"):
        GPT.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    "field,value",
    [
        ("scale_attn_by_inverse_layer_idx", True),
        ("add_cross_attention", True),
        ("scale_attn_weights", False),
        ("activation_function", "gelu_fast"),
    ],
)
def test_unsupported_gpt2_options_are_refused_by_name(tmp_path, field, value):
    tiny().save_pretrained(tmp_path, format="hf")
    config = json.loads((tmp_path / "config.json").read_text())
    config[field] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=field):
        GPT.from_pretrained(tmp_path)


@pytest.mark.parametrize("flat", [True, False])
def test_a_decoded_token_passes_the_layers_as_rows_unless_the_family_says_not(flat):
    """One new position goes through the blocks as (B, D) (``flat_decoding``, the default) or (B, 1, D);
    the logits are (B, 1, V) and equal to a full forward's last position either way."""
    from einformer.nn.kv_cache import DynamicCache

    torch.manual_seed(0)
    model = tiny().eval()
    model.flat_decoding = flat
    ids, cache, seen = torch.randint(3, 99, (2, 7)), DynamicCache(model.config.n_layers), []
    handle = model.blocks[0].register_forward_hook(lambda m, args, out: seen.append(tuple(out[0].shape)))
    with torch.no_grad():
        model(ids[:, :6], kv_cache=cache)
        step = model(ids[:, 6:], kv_cache=cache).logits
        full = model(ids).logits
    handle.remove()
    d = model.config.d_model
    assert seen[1] == ((2, d) if flat else (2, 1, d))
    assert step.shape == (2, 1, model.config.vocab_size)
    assert_close(step, full[:, -1:], rtol=0, atol=1e-5)


def test_logits_to_keep_computes_only_the_last_positions():
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_preset("tiny", dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0)).eval()
    ids = torch.randint(0, 99, (2, 11))
    full = model(ids).logits
    for keep in (1, 3, 11):
        torch.testing.assert_close(model(ids, logits_to_keep=keep).logits, full[:, -keep:], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="leave logits_to_keep at 0"):
        model(ids, labels=ids, logits_to_keep=1)
