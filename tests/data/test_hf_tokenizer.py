"""HFTokenizer against transformers' AutoTokenizer, the oracle, on the same files: tiny tokenizers of the
three kinds Llama-family directories ship (tiny_hf_tokenizers.py), ids and decoded text on varied text
(ASCII, Chinese poetry, emoji, repeated spaces, special tokens inside the text), padding and truncation,
add_bos_token / add_eos_token, and a save_pretrained that transformers reads back the same."""

import json

import pytest
import torch

from einformer.data.hf_tokenizer import HFTokenizer

from .tiny_hf_tokenizers import save

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

TEXTS = [
    "Hello world, hello there!",
    "床前明月光，疑是地上霜。",
    "Emoji 🙂🚀 and accents: café, naïve, Ωμέγα",
    "a    b\t\tc\n\n\nd   ",
    " leading space and trailing ",
    "def add(a, b):\n    return a + b",
    "",
]
SPECIAL_INSIDE = {
    "llama3": "Hi<|eot_id|>there<|start_header_id|>user<|end_header_id|>\n\nok",
    "qwen2": "<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n",
    "llama2": "<s>hello</s> world <unk>x",
}
KINDS = ["llama3", "qwen2", "llama2"]


def _pair(tmp_path, kind, **changes):
    directory = save(kind, tmp_path / kind, **changes)
    return HFTokenizer.from_pretrained(directory), transformers.AutoTokenizer.from_pretrained(directory)


@pytest.mark.parametrize("kind", KINDS)
def test_ids_and_text_equal_transformers(tmp_path, kind):
    ours, theirs = _pair(tmp_path, kind)
    for text in [*TEXTS, SPECIAL_INSIDE[kind]]:
        for add in (True, False):
            expected = theirs.encode(text, add_special_tokens=add)
            assert ours.encode(text, add_special_tokens=add) == expected, (text, add)
        ids = theirs.encode(text)
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip), text
        assert ours.convert_ids_to_tokens(ids) == theirs.convert_ids_to_tokens(ids)
    assert ours.get_vocab() == theirs.get_vocab() and len(ours) == len(theirs)
    for name in ("bos", "eos", "unk", "pad"):
        assert getattr(ours, f"{name}_token") == getattr(theirs, f"{name}_token"), name
        assert getattr(ours, f"{name}_token_id") == getattr(theirs, f"{name}_token_id"), name
    assert ours.padding_side == theirs.padding_side
    limit = theirs.model_max_length  # 1e30 for none: einformer says None
    assert ours.model_max_length == (None if limit > 1e18 else limit)


def test_byte_fallback_pieces_are_the_bytes_of_unseen_characters(tmp_path):
    ours, theirs = _pair(tmp_path, "llama2")
    tokens = ours.convert_ids_to_tokens(ours.encode("🚀", add_special_tokens=False))
    assert tokens == theirs.convert_ids_to_tokens(theirs.encode("🚀", add_special_tokens=False))
    assert [t for t in tokens if t.startswith("<0x")] == ["<0xF0>", "<0x9F>", "<0x9A>", "<0x80>"]


@pytest.mark.parametrize("kind", ["llama3", "qwen2"])
def test_the_llama2_tokenizer_json_read_as_a_plain_fast_tokenizer_too(tmp_path, kind):
    """tokenizer_class PreTrainedTokenizerFast: tokenizer.json as it is (no class rebuild), both sides."""
    ours, theirs = _pair(tmp_path, kind, tokenizer_class="PreTrainedTokenizerFast")
    for text in TEXTS:
        assert ours.encode(text) == theirs.encode(text), text


@pytest.mark.parametrize("flags", [dict(add_bos_token=False), dict(add_eos_token=True),
                                   dict(add_bos_token=True, add_eos_token=True)])  # fmt: skip
def test_add_bos_and_eos_token(tmp_path, flags):
    """In the config they yield to tokenizer.json's post-processor (transformers 5); set on the tokenizer
    they rewrite it, in both."""
    ours, theirs = _pair(tmp_path, "llama2", **flags)
    for text in ("hello world", "床前明月光"):
        assert ours.encode(text) == theirs.encode(text) and ours.encode(text)[0] == ours.bos_token_id
    for name, value in flags.items():
        setattr(ours, name, value)
        setattr(theirs, name, value)
    for text in ("hello world", "床前明月光"):
        assert ours.encode(text) == theirs.encode(text)
        assert ours.encode(text, "a pair") == theirs.encode(text, "a pair")
    assert ours.add_bos_token == theirs.add_bos_token and ours.add_eos_token == theirs.add_eos_token


def test_batch_padding_truncation_and_tensors_equal_transformers(tmp_path):
    ours, theirs = _pair(tmp_path, "qwen2")
    texts = ["short", "a much longer text with 床前明月光 inside", "🙂"]
    for side in ("right", "left"):
        ours.padding_side = theirs.padding_side = side
        got = ours(texts, padding=True, return_tensors="pt")
        expected = theirs(texts, padding=True, return_tensors="pt")
        for key in ("input_ids", "attention_mask"):
            assert torch.equal(got[key], expected[key]), (side, key)
    got = ours(texts, truncation=True, max_length=4, padding="max_length")
    expected = theirs(texts, truncation=True, max_length=4, padding="max_length")
    assert got["input_ids"] == expected["input_ids"] and got["attention_mask"] == expected["attention_mask"]
    assert ours.batch_decode(got["input_ids"], skip_special_tokens=True) == theirs.batch_decode(
        expected["input_ids"], skip_special_tokens=True
    )


@pytest.mark.parametrize("kind", KINDS)
def test_save_pretrained_reads_back_the_same_in_both(tmp_path, kind):
    ours, theirs = _pair(tmp_path, kind, chat_template="{{ messages[0]['content'] }}")
    out = ours.save_pretrained(tmp_path / "out")
    again, theirs_again = HFTokenizer.from_pretrained(out), transformers.AutoTokenizer.from_pretrained(out)
    for text in [*TEXTS, SPECIAL_INSIDE[kind]]:
        assert again.encode(text) == ours.encode(text) == theirs_again.encode(text) == theirs.encode(text), text
    assert again.chat_template == theirs_again.chat_template == "{{ messages[0]['content'] }}"
    assert (out / "chat_template.jinja").is_file()
    assert again.padding_side == theirs_again.padding_side == theirs.padding_side


def test_added_token_dicts_and_special_tokens_map(tmp_path):
    """Special tokens written as AddedToken dicts, and an older directory whose special tokens live in
    special_tokens_map.json only (no added_tokens_decoder)."""
    directory = save("llama2", tmp_path / "d")
    path = directory / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["eos_token"] = {"content": "</s>", "lstrip": False, "normalized": False, "rstrip": False,
                           "single_word": False, "__type": "AddedToken"}  # fmt: skip
    path.write_text(json.dumps(config))
    assert HFTokenizer.from_pretrained(directory).eos_token == "</s>"
    config.pop("added_tokens_decoder", None), config.pop("eos_token")
    path.write_text(json.dumps(config))
    (directory / "special_tokens_map.json").write_text(json.dumps({"eos_token": "<unk>"}))
    ours, theirs = HFTokenizer.from_pretrained(directory), transformers.AutoTokenizer.from_pretrained(directory)
    assert ours.eos_token == theirs.eos_token == "<unk>"


def test_auto_tokenizer_and_load_give_it_for_a_llama_family_directory(tmp_path):
    import einformer

    directory = save("qwen2", tmp_path / "m", chat_template="{{ messages[0]['content'] }}")
    size = len(transformers.AutoTokenizer.from_pretrained(directory))
    config = transformers.Qwen2Config(
        vocab_size=size, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=64,
    )  # fmt: skip
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(directory)
    tok = einformer.AutoTokenizer.from_pretrained(directory)
    assert isinstance(tok, HFTokenizer) and isinstance(einformer.load(directory).tokenizer, HFTokenizer)
    assert tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False) == "hi"


def test_bad_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer.json"):
        HFTokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ValueError, match="tokenizer.json is not valid JSON"):
        HFTokenizer.from_pretrained(tmp_path)
