"""text-generation's remaining transformers options against transformers' pipeline on the same tiny
directories: ``return_tensors`` (each sequence's ids), ``return_text``, ``prefix``, ``stop_sequence``,
the options that exclude each other, and a conversation with ``num_return_sequences > 1``."""

import pytest
import torch

from einformer import pipeline
from tests.data.tiny_hf_tokenizers import save, template
from tests.pipelines.conftest import theirs, transformers

pytestmark = pytest.mark.hf

PROMPT = "The quick brown fox"
GREEDY = dict(do_sample=False, max_new_tokens=12)
SAMPLED = dict(do_sample=True, num_return_sequences=3, max_new_tokens=12)


@pytest.fixture(scope="module")
def both(dirs):
    return pipeline("text-generation", model=dirs["gpt2"]), theirs("text-generation", dirs["gpt2"])


def seeded(pipe, inputs, seed=3, **options):
    torch.manual_seed(seed)
    return pipe(inputs, **options)


def assert_same(both, inputs, **options):
    ours, hf = both
    got = seeded(ours, inputs, **options)
    assert got == seeded(hf, inputs, **options), options
    return got


@pytest.mark.parametrize(
    "options",
    [
        dict(return_tensors=True, **GREEDY),
        dict(return_tensors=True, **SAMPLED),
        dict(return_tensors=True, stop_sequence="a", **SAMPLED),  # rows that stop early keep generate's padding
        dict(return_tensors=True, prefix="Once upon a time. ", **GREEDY),
    ],
)
def test_return_tensors_gives_the_token_ids(both, options):
    got = assert_same(both, PROMPT, **options)
    ids = both[0].tokenizer.encode(options.get("prefix", "") + PROMPT)
    assert all(set(g) == {"generated_token_ids"} and g["generated_token_ids"][: len(ids)] == ids for g in got)
    assert all(type(i) is int for g in got for i in g["generated_token_ids"])


def test_return_text_and_the_options_that_exclude_each_other(both):
    text = assert_same(both, PROMPT, return_text=True, **GREEDY)
    assert text == assert_same(both, PROMPT, **GREEDY) and text[0]["generated_text"].startswith(PROMPT)
    for clash in (dict(return_text=True, return_full_text=False), dict(return_tensors=True, return_full_text=True),
                  dict(return_text=True, return_tensors=True)):  # fmt: skip
        for pipe in both:
            with pytest.raises(ValueError, match="exclusive|exclude each other"):
                pipe(PROMPT, **clash, **GREEDY)
    ours, hf = both[0], theirs("text-generation", both[0].loaded.path, return_full_text=False)
    built = pipeline("text-generation", model=both[0].loaded.path, return_full_text=False)
    assert built(PROMPT, return_tensors=True, **GREEDY) == hf(PROMPT, return_tensors=True, **GREEDY)  # the call wins
    assert built(PROMPT, **GREEDY) == hf(PROMPT, **GREEDY) != ours(PROMPT, **GREEDY)


@pytest.mark.parametrize(
    "options",
    [
        dict(prefix="Once upon a time. ", **GREEDY),
        dict(prefix="Once upon a time. ", return_full_text=False, **GREEDY),
        dict(prefix="Once upon a time. ", do_sample=False, max_length=34),  # the total length counts the prefix
    ],
)
def test_prefix_goes_before_the_prompt_for_the_model_only(both, options):
    got = assert_same(both, PROMPT, **options)
    plain = both[0](PROMPT, **{k: v for k, v in options.items() if k != "prefix"})
    assert got != plain  # the prefix changed what the model read
    assert "Once" not in got[0]["generated_text"]


@pytest.mark.parametrize("stop", [">>", ["zz", "?c"]])
def test_stop_sequence_stops_after_the_string(both, stop):
    got = assert_same(both, PROMPT, stop_sequence=stop, **GREEDY)[0]["generated_text"]
    whole = both[0](PROMPT, **GREEDY)[0]["generated_text"]
    strings = [stop] if isinstance(stop, str) else stop
    assert len(got) < len(whole) and whole.startswith(got) and any(s in got for s in strings)
    assert assert_same(both, PROMPT, stop_sequence="a", **SAMPLED)


@pytest.fixture(scope="module")
def qwen(tmp_path_factory):
    """A tiny Qwen2 chat model that transformers saves (the public Qwen2.5 template)."""
    directory = save("qwen2", tmp_path_factory.mktemp("qwen2"), chat_template=template("qwen2.5-7b-instruct"))
    tok = transformers.AutoTokenizer.from_pretrained(directory)
    config = transformers.Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=56, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                      pad_token_id=tok.pad_token_id,
                                      eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"))  # fmt: skip
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(directory)
    return pipeline("text-generation", model=directory), theirs("text-generation", directory)


CHAT = [{"role": "user", "content": "Say something"}]


@pytest.mark.parametrize(
    "options",
    [
        dict(do_sample=True, num_return_sequences=3, max_new_tokens=8),
        dict(do_sample=False, num_beams=3, num_return_sequences=2, max_new_tokens=6),
        dict(do_sample=True, num_return_sequences=2, max_new_tokens=6, return_full_text=False),
        dict(do_sample=True, num_return_sequences=2, max_new_tokens=6, return_tensors=True),
    ],
)
def test_a_conversation_with_several_sequences(qwen, options):
    got = assert_same(qwen, CHAT, **options)
    assert len(got) == options["num_return_sequences"]
    if "return_tensors" not in options and "return_full_text" not in options:
        assert all(g["generated_text"][:-1] == CHAT and g["generated_text"][-1]["role"] == "assistant" for g in got)
