"""Lenient where transformers is (#31, item 8): a GPT-2 directory that transformers saved with a small
vocabulary keeps GPT2Config's default bos/eos 50256; transformers loads it with a warning, and so does
einformer, dropping the ids the model has no token for."""

import warnings

import pytest
import torch

from einformer import AutoModel

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("gpt2") / "small-vocab"
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=512, n_positions=64, n_embd=32, n_layer=2, n_head=4)
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    return directory


def test_out_of_vocabulary_bos_eos_are_dropped_with_one_warning_each_file_and_the_model_equals_transformers(hf_dir):
    """Before: ``ConfigError: bos_token_id: 50256 is outside the vocabulary of 512``."""
    oracle = transformers.GPT2LMHeadModel.from_pretrained(hf_dir).eval()
    assert oracle.config.bos_token_id == 50256  # transformers keeps it (and warns)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = AutoModel.from_pretrained(hf_dir)
    ours = [str(w.message) for w in caught if "outside the vocabulary" in str(w.message)]
    assert len(ours) == 2, ours  # config.json and generation_config.json, each once, naming both ids
    assert ours[0].startswith("config.json: bos_token_id=50256, eos_token_id=50256 outside the vocabulary of 512")
    assert ours[1].startswith(f"{hf_dir / 'generation_config.json'}: bos_token_id=50256, eos_token_id=50256")
    assert (model.config.bos_token_id, model.config.eos_token_id) == (None, None)
    assert (model.generation_config.bos_token_id, model.generation_config.eos_token_id) == (None, None)
    ids = torch.randint(0, 512, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, oracle(ids).logits, rtol=1e-5, atol=1e-5)
    # generation runs to its length (transformers never meets eos 50256 either), with transformers' tokens
    prompt = ids[:1, :4]
    expected = oracle.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert model.generate(prompt, max_new_tokens=6).tolist() == expected.tolist()


def test_an_in_vocabulary_id_is_kept_without_a_warning(tmp_path):
    config = transformers.GPT2Config(vocab_size=512, n_positions=64, n_embd=32, n_layer=2, n_head=4, bos_token_id=0,
                                     eos_token_id=1)  # fmt: skip
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model = AutoModel.from_pretrained(tmp_path)
    assert (model.config.bos_token_id, model.config.eos_token_id) == (0, 1)
