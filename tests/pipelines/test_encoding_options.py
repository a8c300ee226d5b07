"""text-generation's prompt-encoding and decoding options (#31) against transformers 5.25's pipeline on
the same tiny directories: ``handle_long_generation="hole"``, ``skip_special_tokens``,
``clean_up_tokenization_spaces``, ``add_special_tokens``, ``truncation``, ``padding`` and
``tokenizer_encode_kwargs``; values neither library has are refused by name."""

import json
import shutil

import pytest
import torch

from einformer import pipeline
from tests.data.tiny_hf_tokenizers import save
from tests.pipelines.conftest import theirs, transformers
from tests.pipelines.test_more_options import CHAT, qwen  # noqa: F401  (qwen: a tiny chat model, a fixture)

pytestmark = pytest.mark.hf

PROMPT = "The quick brown fox"
LONG = "The quick brown fox jumps over the lazy dog. " * 5  # 166 tokens: past the GPT-2s 64 positions
EOS = "<|endoftext|>"


def both_on(directory):
    return pipeline("text-generation", model=directory), theirs("text-generation", directory)


def assert_same(pair, inputs, seed=3, **options):
    out = []
    for pipe in pair:
        torch.manual_seed(seed)
        out.append(pipe(inputs, **options))
    assert out[0] == out[1], options
    return out[0]


@pytest.fixture(scope="module")
def gpt2(dirs):
    return both_on(dirs["gpt2"])


@pytest.fixture(scope="module")
def gpt2_64(dirs, tmp_path_factory):
    """The tiny GPT-2 with its tokenizer's model_max_length at its 64 positions (the limit "hole" reads)."""
    directory = tmp_path_factory.mktemp("gpt2-64") / "gpt2"
    shutil.copytree(dirs["gpt2"], directory)
    config = json.loads((directory / "tokenizer_config.json").read_text())
    (directory / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 64}))
    return both_on(directory)


@pytest.fixture(scope="module")
def gpt2_eos(dirs, tmp_path_factory):
    """The tiny GPT-2 with its EOS row made 1.5 times the row of the third token of its greedy continuation
    (tied embeddings: EOS then wins where that token would), so generated texts hold EOS and padding."""
    directory = tmp_path_factory.mktemp("gpt2-eos") / "gpt2"
    model = transformers.GPT2LMHeadModel.from_pretrained(dirs["gpt2"])
    tok = transformers.AutoTokenizer.from_pretrained(dirs["gpt2"])
    ids = tok(PROMPT, return_tensors="pt")["input_ids"]
    third = int(model.generate(ids, do_sample=False, max_new_tokens=3)[0, -1])
    with torch.no_grad():
        model.transformer.wte.weight[tok.eos_token_id] = 1.5 * model.transformer.wte.weight[third]
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return both_on(directory)


@pytest.fixture(scope="module")
def llama3(tmp_path_factory):
    """A tiny Llama whose tokenizer (Llama 3's form) adds <|begin_of_text|> to each text."""
    directory = save("llama3", tmp_path_factory.mktemp("llama3"), pad_token="<|end_of_text|>")  # padding needs one
    tok = transformers.AutoTokenizer.from_pretrained(directory)
    config = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=56, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(directory)
    return both_on(directory)


def test_hole_cuts_the_prompt_from_the_left(gpt2_64):
    ours = gpt2_64[0]
    assert len(ours.tokenizer.encode(LONG)) + 20 > 64  # past the context without the hole
    with pytest.raises(ValueError, match="past this model's context of 64"):
        ours(LONG, max_new_tokens=20, do_sample=False)
    for options in (dict(do_sample=False), dict(return_tensors=True, do_sample=False), dict(num_return_sequences=2)):
        got = assert_same(gpt2_64, LONG, handle_long_generation="hole", max_new_tokens=20, **options)
        if "return_tensors" in options:  # the last 44 prompt tokens, then 20 new ones
            assert got[0]["generated_token_ids"][:44] == ours.tokenizer.encode(LONG)[-44:]
            assert len(got[0]["generated_token_ids"]) == 64
    assert_same(gpt2_64, LONG, handle_long_generation="hole", max_new_tokens=10, prefix="Once upon a time. ")
    assert_same(gpt2_64, PROMPT, handle_long_generation="hole", max_new_tokens=10, do_sample=False)  # fits: uncut


def test_hole_fits_the_models_context_where_the_tokenizer_sets_no_limit(gpt2, gpt2_64):
    """The conftest GPT-2's tokenizer has transformers' "no limit": the model's 64 positions are the limit
    (transformers would run past them and fail), so it gives what the 64-token tokenizer gives."""
    options = dict(handle_long_generation="hole", max_new_tokens=20, do_sample=False)
    assert gpt2[0](LONG, **options) == gpt2_64[1](LONG, **options)


def test_hole_refusals(gpt2_64):
    for pipe in gpt2_64:  # no room left for the prompt; a value other than "hole"
        with pytest.raises(ValueError, match="hole"):
            pipe(LONG, handle_long_generation="hole", max_new_tokens=64)
        with pytest.raises(ValueError, match="hole"):
            pipe(LONG, handle_long_generation="window", max_new_tokens=4)


@pytest.mark.parametrize(
    "options",
    [
        dict(do_sample=False, max_new_tokens=8),
        dict(do_sample=True, num_return_sequences=3, max_new_tokens=12),  # shorter rows padded after their EOS
        dict(do_sample=True, num_return_sequences=3, max_new_tokens=12, return_full_text=False),
    ],
)
def test_skip_special_tokens(gpt2_eos, options):
    kept = assert_same(gpt2_eos, PROMPT, skip_special_tokens=False, **options)
    assert any(EOS in r["generated_text"] for r in kept)  # the case is exercised: an EOS is generated
    skipped = assert_same(gpt2_eos, PROMPT, skip_special_tokens=True, **options)
    assert [r["generated_text"].replace(EOS, "") for r in kept] == [r["generated_text"] for r in skipped]
    assert skipped == assert_same(gpt2_eos, PROMPT, **options)  # the default skips them


def test_clean_up_tokenization_spaces(gpt2):
    """transformers 5.25 leaves a BPE tokenizer's text uncleaned even when asked (with a warning): so do we.
    The rules themselves are transformers' clean_up_tokenization."""
    from einformer.pipelines.text_generation import clean_up

    options = dict(do_sample=True, num_return_sequences=3, max_new_tokens=12)
    with pytest.warns(UserWarning, match="ignored for a BPE tokenizer"):
        cleaned = assert_same(gpt2, "Hello , world . It is n't", clean_up_tokenization_spaces=True, **options)
    assert cleaned == assert_same(gpt2, "Hello , world . It is n't", clean_up_tokenization_spaces=False, **options)
    text = "Hello , world . Is it ? Yes ! I 'm sure it 's they 've we 're do n't ' quote ' ."
    assert clean_up(text) == gpt2[1].tokenizer.clean_up_tokenization(text) != text


def test_add_special_tokens(llama3):
    ours = llama3[0]
    bos = ours.tokenizer.bos_token_id
    options = dict(return_tensors=True, do_sample=False, max_new_tokens=4)
    with_bos = assert_same(llama3, PROMPT, **options)  # the tokenizer's default: its BOS
    without = assert_same(llama3, PROMPT, add_special_tokens=False, **options)
    assert with_bos[0]["generated_token_ids"][0] == bos and without[0]["generated_token_ids"][0] != bos
    assert without == assert_same(llama3, PROMPT, tokenizer_encode_kwargs={"add_special_tokens": False}, **options)
    assert_same(llama3, PROMPT, add_special_tokens=False, do_sample=True, num_return_sequences=2, max_new_tokens=6)
    for padding in (True, "longest", False):  # a layout only: one prompt, the same output
        assert_same(llama3, PROMPT, add_special_tokens=False, padding=padding, do_sample=False, max_new_tokens=4)


@pytest.mark.parametrize(
    "options",
    [
        dict(tokenizer_encode_kwargs={"truncation": True, "max_length": 3}),
        dict(tokenizer_encode_kwargs={"max_length": 3}),  # max_length alone truncates too, as in transformers
        dict(truncation=True),  # no limit in the tokenizer: nothing cut
        dict(truncation=True, return_full_text=False, num_return_sequences=2, do_sample=True),
    ],
)
def test_truncation(gpt2, options):
    options = {"do_sample": False, "max_new_tokens": 6, **options}
    got = assert_same(gpt2, PROMPT, **options)
    if options.get("tokenizer_encode_kwargs"):
        cut = assert_same(gpt2, PROMPT, **{**options, "return_tensors": True})
        assert cut[0]["generated_token_ids"][:3] == gpt2[0].tokenizer.encode(PROMPT)[:3]
        assert len(cut[0]["generated_token_ids"]) == 3 + 6 < len(gpt2[0].tokenizer.encode(PROMPT)) + 6
        assert got[0]["generated_text"].startswith(PROMPT)  # the text returned starts with the whole prompt


def test_unknown_values_are_refused_by_name(gpt2, llama3):
    ours = gpt2[0]
    with pytest.raises(ValueError, match="tokenizer_encode_kwargs has \\['stride'\\]"):
        ours(PROMPT, tokenizer_encode_kwargs={"stride": 2}, max_new_tokens=2)
    with pytest.raises(ValueError, match="truncation='only_second'"):
        ours(PROMPT, truncation="only_second", max_new_tokens=2)
    with pytest.raises(ValueError, match="padding='left'"):
        ours(PROMPT, padding="left", max_new_tokens=2)
    with pytest.raises(ValueError, match="truncation: a conversation's prompt"):
        llama3[0]([{"role": "user", "content": "hi"}], truncation=True, max_new_tokens=2)


def test_a_conversations_special_tokens(qwen):  # noqa: F811
    start = qwen[0].tokenizer.convert_tokens_to_ids("<|im_start|>")  # a special token, not the EOS: made likely
    options = dict(do_sample=True, num_return_sequences=2, max_new_tokens=8, sequence_bias={(start,): 4.0})
    kept = assert_same(qwen, CHAT, skip_special_tokens=False, return_full_text=False, **options)
    assert assert_same(qwen, CHAT, skip_special_tokens=False, **options)[0]["generated_text"][:-1] == CHAT
    skipped = assert_same(qwen, CHAT, skip_special_tokens=True, return_full_text=False, **options)
    assert skipped == assert_same(qwen, CHAT, return_full_text=False, **options)
    assert kept != skipped and any("<|im_start|>" in r["generated_text"] for r in kept)
