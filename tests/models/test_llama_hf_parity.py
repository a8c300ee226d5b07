"""The Llama family (Llama, Mistral, Qwen2, Qwen3) against transformers, the oracle: tiny random models
that transformers itself saves, read through the strict key map, give the same logits on a left-padded
batch (1e-5) and the same greedy, beam and seeded-sampling tokens as ``generate``; an export loads back
in transformers with the same logits."""

import pytest
import torch

from einformer.checkpoint import CheckpointError
from einformer.interop.llama import load_hf_llama, save_hf_llama
from einformer.models.llama import Llama

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

BASE = dict(vocab_size=96, hidden_size=32, intermediate_size=56, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=64, bos_token_id=1, eos_token_id=2, pad_token_id=0)  # fmt: skip
CASES = {
    "llama-gqa2": ("LlamaConfig", dict(num_key_value_heads=2)),
    "llama-mqa-tied": ("LlamaConfig", dict(num_key_value_heads=1, tie_word_embeddings=True)),
    "llama-mha-bias": ("LlamaConfig", dict(num_key_value_heads=4, attention_bias=True, mlp_bias=True)),
    "llama3-rope": ("LlamaConfig", dict(num_key_value_heads=2, rope_parameters=dict(
        rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
        original_max_position_embeddings=8))),
    "linear-rope": ("LlamaConfig", dict(num_key_value_heads=2, rope_parameters=dict(
        rope_type="linear", rope_theta=10000.0, factor=2.0))),
    "dynamic-rope": ("LlamaConfig", dict(num_key_value_heads=2, max_position_embeddings=12, rope_parameters=dict(
        rope_type="dynamic", rope_theta=10000.0, factor=2.0))),
    "yarn-rope": ("LlamaConfig", dict(num_key_value_heads=2, rope_parameters=dict(
        rope_type="yarn", rope_theta=10000.0, factor=4.0, original_max_position_embeddings=8))),
    "qwen2-bias": ("Qwen2Config", dict(num_key_value_heads=2)),
    "qwen3-qknorm-headdim": ("Qwen3Config", dict(num_key_value_heads=2, head_dim=12, tie_word_embeddings=True)),
    "mistral-window": ("MistralConfig", dict(num_key_value_heads=2, sliding_window=5)),
}  # fmt: skip


def _save(tmp_path, case: str):
    cls, extra = CASES[case]
    torch.manual_seed(0)
    config = getattr(transformers, cls)(**{**BASE, **extra})
    theirs = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    with torch.no_grad():  # norms and biases away from their init, so a mix-up would show
        for p in theirs.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    theirs.save_pretrained(tmp_path)
    return theirs, load_hf_llama(Llama, tmp_path).eval()


def _batch():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 96, (3, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # left padding
    mask[2, :6] = 0
    return ids.masked_fill(mask == 0, 0), mask


@pytest.mark.parametrize("case", sorted(CASES))
def test_logits_on_a_left_padded_batch(tmp_path, case):
    theirs, ours = _save(tmp_path, case)
    ids, mask = _batch()
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, mask).logits
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "case", ["llama-gqa2", "qwen3-qknorm-headdim", "mistral-window", "llama3-rope", "dynamic-rope"]
)
def test_greedy_beam_and_sampling_tokens_equal_generate(tmp_path, case):
    """Generation runs past the window (Mistral) and past the original context (dynamic rope)."""
    theirs, ours = _save(tmp_path, case)
    ids, mask = _batch()
    new = dict(max_new_tokens=14, min_new_tokens=14)
    for options in (dict(do_sample=False), dict(do_sample=False, num_beams=4)):
        with torch.no_grad():
            expected = theirs.generate(input_ids=ids, attention_mask=mask, **new, **options)
            got = ours.generate(ids, mask, **new, **options)
        assert got.tolist() == expected.tolist(), options
    # sampling: the same processed distribution at every step of the same prefix (the default sampler
    # draws by inverse CDF, not torch.multinomial, so equal seeds do not give equal draws)
    sampling = dict(do_sample=True, temperature=0.7, top_p=0.9, top_k=0, output_scores=True,
                    return_dict_in_generate=True, **new)  # fmt: skip
    with torch.no_grad():
        drawn = ours.generate(ids, mask, seed=7, **sampling)
        prefix = drawn.sequences[:, :-1]
        full = torch.cat([mask, torch.ones_like(prefix[:, ids.shape[1] :])], dim=1)
        expected = theirs.generate(input_ids=prefix, attention_mask=full, **{**sampling, "max_new_tokens": 1,
                                                                                "min_new_tokens": 1})  # fmt: skip
        first = theirs.generate(input_ids=ids, attention_mask=mask, **{**sampling, "max_new_tokens": 1,
                                                                       "min_new_tokens": 1})  # fmt: skip
    torch.testing.assert_close(drawn.scores[0], first.scores[0], rtol=1e-4, atol=1e-4)
    if case != "dynamic-rope":  # its cached keys keep the frequencies of the length they were made at
        torch.testing.assert_close(drawn.scores[-1], expected.scores[0], rtol=1e-4, atol=1e-4)
    # and with transformers' random stream (sampler="multinomial"), the same tokens after the same seed
    seeded = dict(do_sample=True, temperature=0.7, top_p=0.9, top_k=20, **new)
    with torch.no_grad():
        torch.manual_seed(11)
        expected = theirs.generate(input_ids=ids, attention_mask=mask, **seeded)
        torch.manual_seed(11)
        got = ours.generate(ids, mask, sampler="multinomial", **seeded)
    assert got.tolist() == expected.tolist()


@pytest.mark.parametrize("case", ["llama-gqa2", "mistral-window"])
def test_prompt_lookup_and_assisted_decoding_equal_plain_greedy(tmp_path, case):
    _, ours = _save(tmp_path, case)
    ids = torch.tensor([[5, 6, 7, 8, 9, 5, 6, 7, 8, 9, 5, 6]])
    with torch.no_grad():
        plain = ours.generate(ids, max_new_tokens=16, do_sample=False)
        lookup = ours.generate(ids, max_new_tokens=16, do_sample=False, prompt_lookup_num_tokens=4)
        assisted = ours.generate(ids, max_new_tokens=16, do_sample=False, assistant_model=ours)
    assert lookup.tolist() == plain.tolist() == assisted.tolist()


@pytest.mark.parametrize("case", ["llama-mqa-tied", "qwen2-bias", "qwen3-qknorm-headdim", "mistral-window",
                                  "yarn-rope"])  # fmt: skip
def test_export_loads_in_transformers_with_the_same_logits(tmp_path, case):
    theirs, ours = _save(tmp_path / "in", case)
    save_hf_llama(ours, tmp_path / "out")
    again = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out", attn_implementation="eager").eval()
    assert type(again) is type(theirs)
    ids, mask = _batch()
    with torch.no_grad():
        torch.testing.assert_close(again(input_ids=ids, attention_mask=mask).logits,
                                   theirs(input_ids=ids, attention_mask=mask).logits, rtol=1e-5, atol=1e-5)  # fmt: skip


def test_unsupported_options_are_refused_by_name(tmp_path):
    theirs, _ = _save(tmp_path, "llama-gqa2")
    import json

    path = tmp_path / "config.json"
    config = json.loads(path.read_text())
    for change, message in [
        ({"rope_parameters": {"rope_type": "longrope", "rope_theta": 1e4}}, "rope_type 'longrope' is not supported"),
        ({"hidden_act": "gelu"}, "hidden_act='gelu' is not supported"),
        ({"pretraining_tp": 2}, "pretraining_tp=2"),
    ]:
        path.write_text(json.dumps({**config, **change}))
        with pytest.raises(CheckpointError, match=message):
            load_hf_llama(Llama, tmp_path)


@pytest.mark.parametrize("case", ["llama-gqa2", "qwen2-bias", "qwen3-qknorm-headdim", "mistral-window"])
def test_the_family_is_one_registry_record(tmp_path, case):
    """Each of the four Hugging Face model_types opens through the one loader as the one family, and
    ``einformer train --model llama`` offers it: no loader, CLI or recipe names it."""
    import einformer
    from einformer import registry

    theirs, _ = _save(tmp_path, case)
    loaded = einformer.load(tmp_path)
    assert type(loaded.model) is Llama and loaded.model.config.variant == theirs.config.model_type
    assert registry.of(loaded.model) is registry.get("llama") and "llama" in registry.train_names()
    ids, mask = _batch()
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(ids, mask).logits[mask.bool()],
                                   theirs(input_ids=ids, attention_mask=mask).logits[mask.bool()],
                                   rtol=1e-5, atol=1e-5)  # fmt: skip


def test_a_sharded_directory_loads_and_a_missing_shard_is_named(tmp_path):
    """transformers writes shards past max_shard_size; they load as one model, and a lost shard is named."""
    theirs, _ = _save(tmp_path / "one", "llama-gqa2")
    theirs.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    shards = sorted((tmp_path / "sharded").glob("model-*.safetensors"))
    assert len(shards) > 1 and (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    ours = load_hf_llama(Llama, tmp_path / "sharded").eval()
    ids, mask = _batch()
    with torch.no_grad():
        torch.testing.assert_close(ours(ids, mask).logits[mask.bool()],
                                   theirs(input_ids=ids, attention_mask=mask).logits[mask.bool()],
                                   rtol=1e-5, atol=1e-5)  # fmt: skip
    shards[-1].unlink()
    with pytest.raises(CheckpointError, match=rf"names the shard {shards[-1].name}, which is not in"):
        load_hf_llama(Llama, tmp_path / "sharded")
