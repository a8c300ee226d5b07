"""Group 9 of issue #32, the rest: a size past the memory there is is refused by field and file before
anything is allocated; GPT-2's vocab.json / merges.txt damage is named by file and line; a name that
is not UTF-8 is refused before anything is written."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models

from einformer import GPT, AutoModel, GPTConfig
from einformer.data.gpt2_tokenizer import from_vocab_and_merges
from einformer.errors import EinformerError

from .helpers import LM, TEXT, einformer


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny GPT in einformer's format and in GPT-2's (written by our HF writer, read by transformers)."""
    root = tmp_path_factory.mktemp("sizes")
    model = GPT(GPTConfig.from_preset("tiny"))
    model.save_pretrained(root / "ours")
    model.save_pretrained(root / "hf", format="hf")
    return root


@pytest.mark.parametrize("fmt", ["ours", "hf"])
@pytest.mark.parametrize(
    ("field", "hf_field", "value"), [("vocab_size", "vocab_size", 10**11), ("d_ff", "n_inner", 2**40)]
)
def test_a_size_past_the_memory_is_refused_naming_the_field_and_the_file(saved, tmp_path, fmt, field, hf_field, value):
    """Before: ``RuntimeError: [enforce fail at alloc_cpu.cpp:127] ... can't allocate memory``, no field, no file."""
    directory = tmp_path / fmt
    shutil.copytree(saved / fmt, directory)
    config = json.loads((directory / "config.json").read_text())
    config[field if fmt == "ours" else hf_field] = value
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(EinformerError) as caught:
        AutoModel.from_pretrained(directory)
    message = str(caught.value)
    assert str(directory / "config.json") in message and f"{field}: " in message, message
    assert "memory available" in message and "EINFORMER_SKIP_MEMORY_CHECK" in message


def test_the_memory_check_passes_what_fits(saved):
    """The lower bound never refuses a model that builds: the tiny GPT loads, equal to the saved weights."""
    model = AutoModel.from_pretrained(saved / "ours")
    again = AutoModel.from_pretrained(saved / "hf")
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert a.equal(b), name


def test_layers_100000_is_refused_by_flag_before_anything_is_written(tmp_path):
    """Before: it built layers for minutes (the issue: it hangs); a 60 s limit stands for the hang."""
    data = tmp_path / "corpus.txt"
    data.write_text(TEXT)
    run_dir = tmp_path / "run"
    for preset in ("small", "tiny"):  # small: its weights alone; tiny: its training on the CPU
        result = einformer("train", *LM, "--preset", preset, "--layers", 100000, "--data", data, "--run-dir", run_dir,
                           "--steps", 1, timeout=60)  # fmt: skip
        assert result.returncode == 2, result.stderr
        error = result.stderr.strip().splitlines()[-1]
        assert (
            error.startswith("einformer train: error: --layers 100000: n_layers:") and "Traceback" not in result.stderr
        )
        assert not run_dir.exists()


def _bpe_files(directory, vocab, merges):
    directory.mkdir(exist_ok=True)
    for name, content in (("vocab.json", vocab), ("merges.txt", merges)):
        (directory / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return directory / "vocab.json", directory / "merges.txt"


VOCAB = '{"a": 0, "b": 1, "ab": 2, "c": 3}'
DAMAGED = {
    "vocab not JSON": ("{not json", "#version: 0.2\na b\n", "vocab.json", "not valid JSON"),
    "vocab a list": ("[1, 2]", "#version: 0.2\na b\n", "vocab.json", "must hold a JSON object"),
    "vocab id a string": ('{"a": "x", "b": 1}', "a b\n", "vocab.json", "token 'a' has id 'x'"),
    "vocab id negative": ('{"a": -1, "b": 1, "ab": 2}', "a b\n", "vocab.json", "token 'a' has id -1"),
    "vocab not UTF-8": (b"\xff\xfe{", "a b\n", "vocab.json", "not valid JSON"),
    "merge of one token": (VOCAB, "#version: 0.2\nab\n", "merges.txt:2", "is not a merge"),
    "merge of three tokens": (VOCAB, "a b c\n", "merges.txt:1", "is not a merge"),
    "merge of an unknown token": (VOCAB, "a b\nb z\n", "merges.txt:2", "names 'z', which vocab.json lacks"),
    "merge whose result is unknown": (VOCAB, "a c\n", "merges.txt:1", "names 'ac', which vocab.json lacks"),
    "merges not UTF-8": (VOCAB, b"a b\n\xff\xfe", "merges.txt", "is not UTF-8 text"),
}


@pytest.mark.parametrize("case", DAMAGED)
def test_damaged_gpt2_vocab_or_merges_name_the_file_and_what_is_wrong(tmp_path, case):
    """Before: ``Error while reading BPE files: ...`` without the file (or a Rust panic for a merge
    whose result is not in the vocabulary)."""
    vocab, merges, where, what = DAMAGED[case]
    with pytest.raises(EinformerError if "JSON" not in what else ValueError) as caught:
        from_vocab_and_merges(*_bpe_files(tmp_path, vocab, merges))
    message = str(caught.value)
    assert str(tmp_path / where) in message and what in message, message
    assert "Error while reading BPE files" not in message


def test_good_gpt2_files_read_as_the_tokenizers_library_reads_them(tmp_path):
    """The oracle: our reader gives ``models.BPE.from_file``'s tokenizer (same ids on a text)."""
    vocab = {c: i for i, c in enumerate("abcdefgh ")} | {"ab": 9, "abc": 10, "de": 11, "def": 12}
    files = _bpe_files(tmp_path, json.dumps(vocab), "#version: 0.2\na b\nab c\nd e\nde f\n")
    ours = from_vocab_and_merges(*files)
    reference = HFTokenizer(models.BPE.from_file(*map(str, files)))
    reference.pre_tokenizer, reference.decoder = ours.pre_tokenizer, ours.decoder
    text = "abcdef abc defgh"
    assert ours.encode(text).ids == reference.encode(text).ids and len(ours.encode(text).ids) < len(text)


@pytest.mark.parametrize("bad", ["data", "run-dir"])
def test_a_name_that_is_not_utf8_is_refused_early_and_leaves_nothing(tmp_path, bad):
    """Before: the data name failed after training the tokenizer (``'utf-8' codec can't encode character
    '\\udcff' ... surrogates not allowed``), leaving tokenizer.json and .lock; the run directory's name
    trained, then failed reading its own model.safetensors."""
    root = os.fsencode(tmp_path)
    data = root + (b"/data\xff.txt" if bad == "data" else b"/data.txt")
    run_dir = root + (b"/run\xfe" if bad == "run-dir" else b"/run")
    with open(data, "w") as f:
        f.write(TEXT)
    before = sorted(os.listdir(root))
    argv = [sys.executable, "-m", "einformer", "train", *LM, "--data", data, "--run-dir", run_dir, "--steps", "2"]
    result = subprocess.run(argv, capture_output=True, timeout=120)
    error = result.stderr.decode(errors="replace").strip().splitlines()[-1]
    assert result.returncode == 2 and "is not a UTF-8 name" in error and "Nothing was written" in error, error
    assert ("\\xff" if bad == "data" else "\\xfe") in error  # the name, shown as its bytes
    assert sorted(os.listdir(root)) == before  # no run directory, no tokenizer.json, no .lock
