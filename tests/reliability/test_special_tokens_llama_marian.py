"""Lenient where transformers is (#31, item 8), for the Llama family and Marian: a config.json whose
bos / eos id lies past the vocabulary loads in transformers (with a warning), so it loads here too,
with one warning per file naming the id and the file, and the model equals transformers' on the
same directory. A pad id past the vocabulary stays refused: transformers cannot build that model
either (its embedding's padding_idx)."""

import warnings

import pytest
import torch

from einformer import AutoModel

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


def _llama(directory, **ids):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                      **ids)  # fmt: skip
    transformers.LlamaForCausalLM(config).save_pretrained(directory)
    return directory


def _marian(directory, **ids):
    torch.manual_seed(0)
    config = transformers.MarianConfig(vocab_size=64, decoder_vocab_size=64, d_model=16, encoder_layers=1,
                                       decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                                       encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=32,
                                       pad_token_id=63, decoder_start_token_id=63, **ids)  # fmt: skip
    transformers.MarianMTModel(config).save_pretrained(directory)
    return directory


def _load_recording(directory):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = AutoModel.from_pretrained(directory)
    return model, [str(w.message) for w in caught if "outside the vocabulary" in str(w.message)]


def test_a_llama_eos_past_the_vocabulary_loads_with_one_warning_and_equals_transformers(tmp_path):
    """Before: ``ConfigError: eos_token_id: 50256 is outside the vocabulary``."""
    directory = _llama(tmp_path / "llama", bos_token_id=1, eos_token_id=50256, pad_token_id=0)
    oracle = transformers.LlamaForCausalLM.from_pretrained(directory).eval()
    assert oracle.config.eos_token_id == 50256  # transformers keeps it, and loads
    model, messages = _load_recording(directory)
    config_json = [m for m in messages if m.startswith(str(directory / "config.json"))]
    assert len(config_json) == 1 and "eos_token_id=50256 outside the vocabulary of 128" in config_json[0], messages
    assert "bos_token_id" not in config_json[0]  # an id inside the vocabulary is kept, unnamed
    assert (model.config.bos_token_id, model.config.eos_token_id) == (1, None)
    ids = torch.randint(0, 128, (2, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, oracle(ids).logits, rtol=1e-5, atol=1e-5)
    prompt = ids[:1, :4]  # neither side meets an end token: both run to the length
    expected = oracle.generate(prompt, max_new_tokens=6, do_sample=False)
    assert model.generate(prompt, max_new_tokens=6, do_sample=False).tolist() == expected.tolist()


def test_a_list_of_eos_ids_keeps_those_inside_the_vocabulary(tmp_path):
    directory = _llama(tmp_path / "llama-list", bos_token_id=1, eos_token_id=[2, 999], pad_token_id=0)
    model, messages = _load_recording(directory)
    assert model.config.eos_token_id == (2,)
    assert any(m.startswith(f"{directory / 'config.json'}: eos_token_id=[999]") for m in messages), messages


def test_a_llama_pad_past_the_vocabulary_stays_refused_as_transformers_cannot_build_it(tmp_path):
    directory = _llama(tmp_path / "llama-pad", pad_token_id=0)
    text = (directory / "config.json").read_text().replace('"pad_token_id": 0', '"pad_token_id": 300')
    (directory / "config.json").write_text(text)
    with pytest.raises(AssertionError, match="Padding_idx"):  # the oracle's own refusal
        transformers.LlamaForCausalLM.from_pretrained(directory)
    with pytest.raises(ValueError, match="pad_token_id: 300 is outside the vocabulary of 128"):
        AutoModel.from_pretrained(directory)


def test_a_marian_eos_past_the_vocabulary_loads_with_one_warning_and_equals_transformers(tmp_path):
    """Before: ``ConfigError: eos_token_id: 500 is outside the vocabulary of 64``."""
    directory = _marian(tmp_path / "marian", eos_token_id=500)
    oracle = transformers.MarianMTModel.from_pretrained(directory).eval()
    assert oracle.config.eos_token_id == 500
    model, messages = _load_recording(directory)
    config_json = [m for m in messages if m.startswith(str(directory / "config.json"))]
    assert len(config_json) == 1 and "eos_token_id=500 outside the vocabulary of 64" in config_json[0], messages
    assert model.config.eos_token_id is None
    source = torch.tensor([[5, 6, 7, 8], [9, 10, 63, 63]])
    mask = (source != 63).long()
    target = torch.tensor([[63, 3, 4], [63, 11, 12]])
    with torch.no_grad():
        expected = oracle(input_ids=source, attention_mask=mask, decoder_input_ids=target).logits
        ours = model(input_ids=source, attention_mask=mask, decoder_input_ids=target).logits
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    expected = oracle.generate(source[:1], max_new_tokens=5, do_sample=False, num_beams=1)
    assert model.generate(source[:1], max_new_tokens=5, num_beams=1).tolist() == expected.tolist()
