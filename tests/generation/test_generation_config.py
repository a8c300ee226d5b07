"""generation_config.json: read with Hugging Face's field names, honoured by model.generate and by
``einformer generate`` exactly as transformers' generate honours it (the oracle), written back so
transformers reads it, and refused by name when it asks for what einformer does not implement."""

import json
import re

import pytest
import torch
from tokenizers.implementations import ByteLevelBPETokenizer

from einformer import GPT, GPTConfig, load
from einformer.cli import main
from einformer.generation.config import GenerationConfig

transformers = pytest.importorskip("transformers")
TEXT = ["the quick brown fox jumps over the lazy dog and the dog sleeps " * 5, "hello world, hello again " * 5]
SETTINGS = [
    dict(num_beams=3, no_repeat_ngram_size=2, max_new_tokens=7, length_penalty=0.8, early_stopping=True),
    dict(max_new_tokens=6, repetition_penalty=1.3, min_new_tokens=3),
    dict(max_length=12, num_beams=2),
]


@pytest.fixture(scope="module", params=range(len(SETTINGS)))
def hf_dir(request, tmp_path_factory):
    """A tiny random GPT-2 saved by transformers, with its tokenizer and a generation_config.json."""
    d = tmp_path_factory.mktemp("gen")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TEXT * 10, vocab_size=300, special_tokens=["<|endoftext|>"])
    bpe.save_model(str(d))
    tok = transformers.GPT2TokenizerFast(str(d / "vocab.json"), str(d / "merges.txt"))
    eos = tok.eos_token_id
    torch.manual_seed(request.param)
    config = transformers.GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                     bos_token_id=eos, eos_token_id=eos)  # fmt: skip
    model = transformers.GPT2LMHeadModel(config).eval()
    model.generation_config = transformers.GenerationConfig(
        bos_token_id=eos, eos_token_id=eos, pad_token_id=eos, **SETTINGS[request.param]
    )
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d, model, tok


def test_model_generate_honours_the_file_like_transformers(hf_dir):
    d, theirs, tok = hf_dir
    ours = load(d).model
    ids = torch.tensor([tok("the quick brown")["input_ids"]])
    with torch.no_grad():
        expected = theirs.generate(ids, attention_mask=torch.ones_like(ids))
    assert ours.generate(ids).tolist() == expected.tolist()


def test_the_cli_honours_the_file_like_transformers(hf_dir, capsys):
    d, theirs, tok = hf_dir
    prompt = "hello world"
    ids = torch.tensor([tok(prompt)["input_ids"]])
    with torch.no_grad():
        new = theirs.generate(ids, attention_mask=torch.ones_like(ids))[0, ids.shape[1] :].tolist()
    if tok.eos_token_id in new:
        new = new[: new.index(tok.eos_token_id)]
    assert main(["generate", str(d), "--prompt", prompt]) == 0
    assert capsys.readouterr().out == prompt + tok.decode(new) + "\n"


def test_our_file_reads_back_in_transformers(tmp_path):
    model = GPT(GPTConfig.from_preset("tiny", bos_token_id=0, eos_token_id=0))
    model.generation_config = GenerationConfig(eos_token_id=0, num_beams=4, max_new_tokens=9, do_sample=False)
    model.save_pretrained(tmp_path, format="hf")
    theirs = transformers.GenerationConfig.from_pretrained(tmp_path)
    assert (theirs.num_beams, theirs.max_new_tokens, theirs.eos_token_id) == (4, 9, 0)
    assert load(tmp_path).model.generation_config == model.generation_config
    assert GPT.from_pretrained(tmp_path).generation_config.num_beams == 4


@pytest.mark.parametrize(
    "content, phrase",
    [
        ({"do_sample": True, "temperature": 0.0}, "temperature=0.0 must be > 0"),
        ({"num_beam_groups": 2, "diversity_penalty": 0.5}, "asks for group (diverse) beam search, which Hugging Face"),
        ({"watermarking_config": 7}, "sets watermarking_config=7, which einformer's generate does not implement"),
        ({"num_beams": 2, "num_return_sequences": 3}, "num_return_sequences=3 must be between 1 and num_beams=2"),
    ],
)
def test_a_bad_generation_config_names_the_file_and_the_option(tmp_path, capsys, content, phrase):
    GPT(GPTConfig.from_preset("tiny", bos_token_id=0, eos_token_id=0)).save_pretrained(tmp_path)
    (tmp_path / "generation_config.json").write_text(json.dumps(content))
    with pytest.raises(ValueError, match="generation_config.json"):
        GPT.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        GPT.from_pretrained(tmp_path)


def test_options_passed_to_generate_override_the_file():
    model = GPT(GPTConfig.from_preset("tiny", bos_token_id=0, eos_token_id=None)).eval()
    model.generation_config = GenerationConfig(max_new_tokens=3, num_beams=2)
    ids = torch.randint(1, 99, (1, 4))
    assert model.generate(ids).shape[1] == 4 + 3
    assert model.generate(ids, max_new_tokens=5).shape[1] == 4 + 5
    assert model.generate(ids, max_length=6).shape[1] == 6  # a length given either way replaces the file's
    assert torch.equal(model.generate(ids, num_beams=1, max_new_tokens=5), model.generate(ids, max_new_tokens=5,
                                                                                            num_beams=1))  # fmt: skip


@pytest.mark.parametrize(
    "option, method",
    [({"penalty_alpha": 0.6, "top_k": 4}, "contrastive search"), ({"num_beam_groups": 2}, "group (diverse) beam"),
     ({"force_words_ids": [[5]]}, "constrained beam search")],
)  # fmt: skip
def test_decoding_methods_hugging_face_moved_out_are_named(option, method):
    model = GPT(GPTConfig.from_preset("tiny", bos_token_id=0, eos_token_id=0)).eval()
    with pytest.raises(ValueError, match=f"asks for {re.escape(method)}.*moved out of transformers"):
        model.generate(torch.randint(1, 99, (1, 3)), max_new_tokens=2, **option)
