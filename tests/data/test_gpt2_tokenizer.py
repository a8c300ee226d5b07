"""GPT-2's tokenizer against transformers' GPT2TokenizerFast and the pure-Python GPT2Tokenizer (the
oracles), built on the same vocab.json + merges.txt; and a Hugging Face GPT-2 directory through the CLI."""

import json

import pytest
import torch
from tokenizers.implementations import ByteLevelBPETokenizer

from einformer import GPT, GPTConfig, load
from einformer.cli import main
from einformer.data.gpt2_tokenizer import ENDOFTEXT, GPT2Tokenizer

transformers = pytest.importorskip("transformers")

CORPUS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "def f(x):\n    return x ** 2  # square\n\n\nprint(f(12345))\n",
    "Ünïcödé naïve café, 東京タワー, 🙂🚀 emoji, and numbers 3.14159 1,000,000.",
    "spaces    and\ttabs\n\n  newlines   \r\n end",
]
SAMPLE = [
    "Hello world",
    " leading space",
    "trailing space ",
    "runs    of     spaces\n\n\nand newlines\r\n",
    "naïve café 東京 🙂🚀👩‍👩‍👧",
    "x = [i**2 for i in range(10)]  # code\n\tindented();",
    "12345 3.14159 -0.5e10 1,000,000",
    f"two documents{ENDOFTEXT}the second",
    "",
    "a",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """vocab.json + merges.txt of a small byte-level BPE, with <|endoftext|> as GPT-2 has it."""
    d = tmp_path_factory.mktemp("gpt2tok")
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(CORPUS * 20, vocab_size=400, special_tokens=[ENDOFTEXT])
    trainer.save_model(str(d))
    return d


@pytest.mark.hf
@pytest.mark.parametrize("add_prefix_space", [False, True])
def test_ids_equal_transformers_fast_and_slow_tokenizers(files, add_prefix_space):
    vocab, merges = str(files / "vocab.json"), str(files / "merges.txt")
    fast = transformers.GPT2TokenizerFast(vocab, merges, add_prefix_space=add_prefix_space)
    slow = transformers.GPT2Tokenizer(vocab, merges, add_prefix_space=add_prefix_space)
    (files / "tokenizer_config.json").write_text(json.dumps({"add_prefix_space": add_prefix_space}))
    ours = GPT2Tokenizer.from_pretrained(files)
    for text in SAMPLE:
        expected = fast(text)["input_ids"]
        assert ours.encode(text) == expected, text
        if ENDOFTEXT not in text:  # the slow tokenizer splits special tokens the same way; checked once more
            assert slow(text)["input_ids"] == expected, text
        if not add_prefix_space:
            assert ours.decode(ours.encode(text)) == text  # byte for byte
    (files / "tokenizer_config.json").unlink()


@pytest.mark.hf
def test_tokenizer_json_written_by_transformers_and_our_export_round_trip(files, tmp_path):
    fast = transformers.GPT2TokenizerFast(str(files / "vocab.json"), str(files / "merges.txt"))
    fast.save_pretrained(tmp_path / "hf")
    ours = GPT2Tokenizer.from_pretrained(tmp_path / "hf")  # through its tokenizer.json
    assert all(ours.encode(t) == fast(t)["input_ids"] for t in SAMPLE)
    assert (ours.bos_token_id, ours.eos_token_id, ours.pad_token_id) == (
        fast.bos_token_id,
        fast.eos_token_id,
        fast.pad_token_id,
    )
    ours.save_pretrained(tmp_path / "ours")
    back = transformers.AutoTokenizer.from_pretrained(tmp_path / "ours")
    assert all(back(t)["input_ids"] == fast(t)["input_ids"] for t in SAMPLE)


def test_batches_pad_on_the_configured_side(files):
    tok = GPT2Tokenizer.from_pretrained(files)
    tok.padding_side = "left"
    batch = tok(["a", "Hello world"], padding=True, return_tensors="pt")
    short = tok.encode("a")
    assert batch["attention_mask"][0].tolist()[-len(short) :] == [1] * len(short)
    assert batch["input_ids"][0, -len(short) :].tolist() == short and batch["input_ids"][0, 0] == tok.eos_token_id


def gpt2_directory(files, path, seed: int = 0) -> tuple[GPT, GPT2Tokenizer]:
    """A tiny random GPT saved as a Hugging Face GPT-2 directory with the tokenizer of ``files``."""
    tok = GPT2Tokenizer.from_pretrained(files)
    torch.manual_seed(seed)
    config = GPTConfig.from_preset(
        "tiny", vocab_size=tok.vocab_size, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id
    )
    model = GPT(config).eval()
    model.save_pretrained(path, format="hf")
    tok.save_pretrained(path)
    return model, tok


def test_a_gpt2_directory_generates_and_explains_through_the_cli(files, tmp_path, capsys):
    model, tok = gpt2_directory(files, tmp_path)
    loaded = load(tmp_path)
    assert loaded.origin == "huggingface" and isinstance(loaded.tokenizer, GPT2Tokenizer)
    assert main(["generate", str(tmp_path), "--prompt", "Hello", "--max-new-tokens", "5", "--greedy"]) == 0
    out = capsys.readouterr().out
    ids = torch.tensor([tok.encode("Hello")])
    expected = model.generate(ids, max_new_tokens=5)[0, ids.shape[1] :].tolist()
    if tok.eos_token_id in expected:
        expected = expected[: expected.index(tok.eos_token_id)]
    assert out == "Hello" + tok.decode(expected) + "\n"
    assert main(["attention", str(tmp_path), "Hello world", "-o", str(tmp_path / "a.png")]) == 0
    assert "self attention" in capsys.readouterr().out


def test_a_tokenizer_larger_than_the_model_is_refused(files, tmp_path):
    tok = GPT2Tokenizer.from_pretrained(files)
    GPT(GPTConfig.from_preset("tiny", vocab_size=64, bos_token_id=0, eos_token_id=0)).save_pretrained(
        tmp_path, format="hf"
    )
    tok.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=f"the tokenizer has {tok.vocab_size} tokens but the model's vocab_size is 64"):
        load(tmp_path)


def test_stdin_prompts_are_one_left_padded_batch_with_the_model_s_tokens(files, tmp_path):
    """Two prompts of different lengths on standard input: one batch, left-padded with GPT-2's pad
    (its EOS), each completion equal to the model's own greedy tokens for that prompt alone."""
    import subprocess
    import sys

    model, tok = gpt2_directory(files, tmp_path, seed=1)
    prompts = ["Hello", "The quick brown fox jumps"]
    out = subprocess.run(
        [sys.executable, "-m", "einformer", "generate", str(tmp_path), "--max-new-tokens", "4", "--greedy"],
        input="\n".join(prompts) + "\n", capture_output=True, text=True, check=True,
    )  # fmt: skip
    expected = []
    for prompt in prompts:
        ids = torch.tensor([tok.encode(prompt)])
        new = model.generate(ids, max_new_tokens=4)[0, ids.shape[1] :].tolist()
        expected.append(prompt + tok.decode(new[: new.index(tok.eos_token_id)] if tok.eos_token_id in new else new))
    assert out.stdout == "---\n".join(e + "\n" for e in expected)


@pytest.mark.hf
def test_the_text_generation_pipeline_equals_transformers(files, tmp_path):
    """On a GPT-2 directory (weights, tokenizer, generation_config.json), einformer's text-generation
    pipeline and transformers' give the same greedy text, prompt included or not."""
    from einformer import pipeline

    gpt2_directory(files, tmp_path)
    theirs = transformers.pipeline("text-generation", model=str(tmp_path), device="cpu")
    ours = pipeline("text-generation", tmp_path)
    for prompt in ("Hello", "The café is open"):
        options = dict(max_new_tokens=6, do_sample=False)
        assert ours(prompt, **options) == theirs(prompt, **options)
        assert ours(prompt, return_full_text=False, **options) == theirs(prompt, return_full_text=False, **options)
