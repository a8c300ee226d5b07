"""A Llama directory that holds only a sentencepiece tokenizer.model (no tokenizer.json), as Llama-2-era
checkpoints do: ids, decoded text and greedy generation equal transformers' on the same directory.

The sentencepiece model is trained here (BPE with byte fallback on English, accented and Chinese lines,
with user-defined and control pieces);
tokenizer_config.json is the one transformers' LlamaTokenizer writes (its tokenizer.json removed), and
the tiny LlamaForCausalLM beside it is saved by transformers."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import torch

from einformer.data.hf_tokenizer import HFTokenizer

transformers = pytest.importorskip("transformers")
sentencepiece = pytest.importorskip("sentencepiece")
pytest.importorskip("google.protobuf")  # transformers reads the model proto with it, and so do we

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"  # read by path, never copied
SAMPLES = [
    "Hello world",
    " leading space",
    "two  spaces   and three",
    "line\nbreak\n\nblank line\n",
    "tabs\there",
    "café naïve über Größe, Ça va?",
    "emoji 🙂 and ✓ outside the vocabulary",
    "春眠不觉晓，处处闻啼鸟。",
    "混合 mixed 文本 text",
    "",
    " ",
    "▁already a piece",
    "<s> special </s> inside <unk>",
    "ROMEO: my lord!",
    "[INST] a user-defined piece [/INST] and a control one: x<ctl>y<extra>",
]
CONFIGS = {  # tokenizer_config.json edits: Llama 2's own (BOS added), and the options that change the pipeline
    "llama2": {"add_bos_token": True, "add_eos_token": False, "legacy": False},
    "as_transformers_writes_it": {},
    "bos_eos": {"add_bos_token": True, "add_eos_token": True},
    "legacy": {"add_bos_token": True, "legacy": True},
    "no_prefix_space": {"add_bos_token": True, "add_prefix_space": False},
    "fast_class_and_extra": {"tokenizer_class": "LlamaTokenizerFast", "extra_special_tokens": ["<extra>"]},
    "transformers4_form": {  # the keys transformers 4's slow LlamaTokenizer wrote (Llama-2-7b-hf's file has them)
        "add_bos_token": True,
        "add_eos_token": False,
        "legacy": False,
        "pad_token": None,
        "padding_side": "right",
        "added_tokens_decoder": {
            str(i): {
                "content": t,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for i, t in enumerate(["<unk>", "<s>", "</s>"])
        },
        "sp_model_kwargs": {},
        "clean_up_tokenization_spaces": False,
        "extra_special_tokens": ...,
    },
    "no_extra_list": {"add_bos_token": True, "extra_special_tokens": ...},  # (popped) the model's pieces count
}


def corpus() -> list[str]:
    lines = (DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8").splitlines()[:300]
    lines += ["café naïve résumé über straße", "Ça va? Él está aquí. Größe", "def f(x):\n    return x"] * 5
    lines += (DATA / "chinese" / "tang300.txt").read_text(encoding="utf-8").splitlines()[:40]
    return lines


def train_model(model_type: str) -> bytes:
    out = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()), model_writer=out, model_type=model_type, vocab_size=800,
        byte_fallback=True, character_coverage=0.98, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2,
        user_defined_symbols=["[INST]", "[/INST]"], control_symbols=["<ctl>"],
    )  # fmt: skip
    return out.getvalue()


@pytest.fixture(scope="module")
def spm_bpe(tmp_path_factory) -> tuple[Path, dict]:
    """tokenizer.model (BPE) and the tokenizer_config.json transformers' LlamaTokenizer writes for it."""
    root = tmp_path_factory.mktemp("spm")
    (root / "tokenizer.model").write_bytes(train_model("bpe"))
    transformers.LlamaTokenizer.from_pretrained(root).save_pretrained(root / "saved")
    return root / "tokenizer.model", json.loads((root / "saved" / "tokenizer_config.json").read_text())


def llama_dir(directory: Path, spm_bpe, edits: dict, model: bool = False, family: str = "Llama") -> Path:
    """A Llama (or Mistral) directory with the sentencepiece model, no tokenizer.json, and a tiny model's
    config (and weights when ``model``)."""
    model_file, config = spm_bpe
    directory.mkdir(parents=True)
    (directory / "tokenizer.model").write_bytes(model_file.read_bytes())
    config = {key: value for key, value in {**config, **edits}.items() if value is not ...}  # ...: the key left out
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    llama = getattr(transformers, f"{family}Config")(
        vocab_size=800, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128,
    )  # fmt: skip
    if model:
        torch.manual_seed(0)
        getattr(transformers, f"{family}ForCausalLM")(llama).save_pretrained(directory)
    else:
        llama.save_pretrained(directory)
    assert not (directory / "tokenizer.json").exists()
    return directory


@pytest.mark.parametrize("name", list(CONFIGS))
def test_ids_and_decoded_text_equal_transformers(tmp_path, spm_bpe, name):
    directory = llama_dir(tmp_path / name, spm_bpe, CONFIGS[name])
    theirs, ours = transformers.AutoTokenizer.from_pretrained(directory), HFTokenizer.from_pretrained(directory)
    assert type(theirs).__name__ == "LlamaTokenizer"
    for text in SAMPLES:
        ids = theirs(text).input_ids
        assert ours.encode(text) == ids, text
        assert ours.decode(ids) == theirs.decode(ids), text
        assert ours.decode(ids, skip_special_tokens=True) == theirs.decode(ids, skip_special_tokens=True), text
    assert ours.all_special_tokens == theirs.all_special_tokens
    assert ours.padding_side == theirs.padding_side
    ours.pad_token = theirs.pad_token = "</s>"  # Llama has none; padding on the left, as its class pads
    batch = ours(SAMPLES[:4], padding=True, return_tensors="pt")
    expected = theirs(SAMPLES[:4], padding=True, return_tensors="pt")
    assert batch["input_ids"].tolist() == expected["input_ids"].tolist()
    assert batch["attention_mask"].tolist() == expected["attention_mask"].tolist()


def test_byte_fallback_covers_what_the_vocabulary_lacks(tmp_path, spm_bpe):
    directory = llama_dir(tmp_path / "m", spm_bpe, CONFIGS["llama2"])
    ours = HFTokenizer.from_pretrained(directory)
    pieces = ours.convert_ids_to_tokens(ours.encode("🙂", add_special_tokens=False))
    assert [p for p in pieces if p.startswith("<0x")] == [f"<0x{b:02X}>" for b in "🙂".encode()]
    assert ours.decode(ours.encode("a🙂b", add_special_tokens=False)) == "a🙂b"


@pytest.mark.parametrize("family", ["Llama", "Mistral"])
def test_load_and_greedy_generate_equal_transformers(tmp_path, spm_bpe, family):
    """Mistral's model type: transformers reads the directory as TokenizersBackend (the model's own
    settings) although the config names LlamaTokenizer; einformer.load follows."""
    import einformer

    directory = llama_dir(tmp_path / "m", spm_bpe, CONFIGS["llama2"], model=True, family=family)
    theirs_tok = transformers.AutoTokenizer.from_pretrained(directory)
    assert type(theirs_tok).__name__ == {"Llama": "LlamaTokenizer", "Mistral": "TokenizersBackend"}[family]
    theirs = transformers.AutoModelForCausalLM.from_pretrained(directory).eval()
    ours = einformer.load(directory)
    assert isinstance(ours.tokenizer, HFTokenizer)
    for text in SAMPLES:
        assert ours.tokenizer.encode(text) == theirs_tok(text).input_ids, text
    for prompt in ["ROMEO: my lord,", "春眠不觉晓，"]:
        ids = torch.tensor([ours.tokenizer.encode(prompt)])
        assert ids.tolist() == theirs_tok(prompt, return_tensors="pt").input_ids.tolist()
        with torch.no_grad():
            expected = theirs.generate(ids, max_new_tokens=10, do_sample=False, attention_mask=torch.ones_like(ids))
        got = ours.model.generate(ids, max_new_tokens=10)
        assert got.tolist() == expected.tolist()
        assert ours.tokenizer.decode(got[0]) == theirs_tok.decode(expected[0])


@pytest.fixture(scope="module")
def spm_unigram() -> bytes:
    return train_model("unigram")


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
@pytest.mark.parametrize("config", [None, {"legacy": False, "add_bos_token": True}], ids=["no_config", "no_class"])
def test_no_tokenizer_class_follows_the_model_own_settings(tmp_path, spm_bpe, spm_unigram, model_type, config):
    """transformers' TokenizersBackend path: the model's normalizer (NFKC map, extra spaces removed), unigram
    or BPE merged by score, user-defined pieces whole; here too ids and text equal AutoTokenizer's."""
    directory = llama_dir(tmp_path / "m", spm_bpe, {})
    model = spm_bpe[0].read_bytes() if model_type == "bpe" else spm_unigram
    (directory / "tokenizer.model").write_bytes(model)
    (directory / "tokenizer_config.json").unlink()
    if config is not None:
        (directory / "tokenizer_config.json").write_text(json.dumps(config))
    theirs, ours = transformers.AutoTokenizer.from_pretrained(directory), HFTokenizer.from_pretrained(directory)
    assert type(theirs).__name__ == "TokenizersBackend"
    for text in [*SAMPLES, "  two leading, two trailing  ", "ｆｕｌｌｗｉｄｔｈ ①", "a\tb  \n  c"]:
        ids = theirs(text).input_ids
        assert ours.encode(text) == ids, text
        assert ours.decode(ids) == theirs.decode(ids), text
        assert ours.decode(ids, skip_special_tokens=True) == theirs.decode(ids, skip_special_tokens=True), text
    assert ours.all_special_tokens == theirs.all_special_tokens


def test_a_unigram_model_under_llama_tokenizer_is_refused_by_its_type(tmp_path, spm_bpe, spm_unigram):
    directory = llama_dir(tmp_path / "m", spm_bpe, CONFIGS["llama2"])
    (directory / "tokenizer.model").write_bytes(spm_unigram)
    with pytest.raises(ValueError, match="tokenizer.model is a sentencepiece unigram model"):
        HFTokenizer.from_pretrained(directory)


def test_a_corrupt_or_unconverted_model_is_named(tmp_path, spm_bpe):
    directory = llama_dir(tmp_path / "m", spm_bpe, CONFIGS["llama2"])
    model = directory / "tokenizer.model"
    model.write_bytes(model.read_bytes()[:5000])
    with pytest.raises(ValueError, match="tokenizer.model is not a readable sentencepiece model"):
        HFTokenizer.from_pretrained(directory)
    model.write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="tokenizer.model is not a readable sentencepiece model"):
        HFTokenizer.from_pretrained(directory)
    (directory / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer"}))
    with pytest.raises(ValueError, match="transformers reads as a T5Tokenizer: only a LlamaTokenizer's"):
        HFTokenizer.from_pretrained(directory)


def test_save_pretrained_writes_a_tokenizer_json_both_read_the_same(tmp_path, spm_bpe):
    directory = llama_dir(tmp_path / "m", spm_bpe, CONFIGS["llama2"])
    original = transformers.AutoTokenizer.from_pretrained(directory)
    saved = HFTokenizer.from_pretrained(directory).save_pretrained(tmp_path / "saved")
    llama_dir(tmp_path / "config", spm_bpe, {})  # config.json beside the saved tokenizer, as an export writes it
    (saved / "config.json").write_bytes((tmp_path / "config" / "config.json").read_bytes())
    theirs, ours = transformers.AutoTokenizer.from_pretrained(saved), HFTokenizer.from_pretrained(saved)
    for text in SAMPLES:
        ids = original(text).input_ids
        assert theirs(text).input_ids == ours.encode(text) == ids, text
        assert theirs.decode(ids) == ours.decode(ids) == original.decode(ids), text


def test_without_protobuf_the_error_says_what_to_install(tmp_path, spm_bpe, monkeypatch):
    directory = llama_dir(tmp_path / "m", spm_bpe, CONFIGS["llama2"])
    monkeypatch.setitem(sys.modules, "sentencepiece.sentencepiece_model_pb2", None)  # as if protobuf were missing
    monkeypatch.delattr(sentencepiece, "sentencepiece_model_pb2", raising=False)
    with pytest.raises(ImportError, match="tokenizer.model needs protobuf: pip install protobuf"):
        HFTokenizer.from_pretrained(directory)


@pytest.mark.parametrize("family", ["Llama", "Mistral", "Qwen2", "Qwen3"])
@pytest.mark.parametrize("kind", ["llama2", "llama3", "qwen2"])
def test_the_model_type_picks_the_class_as_auto_tokenizer_does(tmp_path, kind, family):
    """With tokenizer.json too: a Mistral model type is read as TokenizersBackend (the file as it is) and a
    Qwen2 one as Qwen2Tokenizer, whatever class the config names, as AutoTokenizer reads them."""
    import einformer

    from .tiny_hf_tokenizers import save

    directory = save(kind, tmp_path / "m")
    size = len(transformers.AutoTokenizer.from_pretrained(directory))
    config = getattr(transformers, f"{family}Config")(
        vocab_size=size, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1,
    )  # fmt: skip
    config.save_pretrained(directory)
    theirs, ours = (
        transformers.AutoTokenizer.from_pretrained(directory),
        einformer.AutoTokenizer.from_pretrained(directory),
    )
    for text in SAMPLES:
        ids = theirs(text).input_ids
        assert ours.encode(text) == ids, text
        assert ours.decode(ids) == theirs.decode(ids), text
    assert ours.all_special_tokens == theirs.all_special_tokens and ours.padding_side == theirs.padding_side
