"""Tokenizers: the special ids, round trips at each level, save/load, and padding."""

import pytest

from einformer.data.tokenizer import Tokenizer


@pytest.mark.parametrize(
    "level,texts,sample",
    [
        ("char", ["2021-03-05", "一万零八十六", "5 march 2021"], "一万 05"),
        ("word", ["one thousand two hundred thirty-four", "ninety-nine"], "two hundred ninety-nine"),
        ("bpe", ["ein Mann läuft über die Straße", "a man runs across the street"] * 20, "ein Mann läuft"),
        ("wordpiece", ["ein Mann läuft über die Straße", "a man runs across the street"] * 20, "ein Mann läuft"),
        ("bytebpe", ["First Citizen:\nBefore we proceed", "any further, hear me speak."] * 20, "First ü\n speak"),
    ],
)
def test_round_trip_and_specials(level, texts, sample, tmp_path):
    tok = Tokenizer.train(texts, level, vocab_size=80)
    ids = tok.encode(sample, add_bos=True, add_eos=True)
    assert ids[0] == tok.bos_token_id == 1 and ids[-1] == tok.eos_token_id == 2
    assert tok.decode(ids) == sample
    assert tok.decode(ids + [5, 6]) == sample  # decoding stops at EOS
    tok.save(tmp_path / "tok.json")
    again = Tokenizer.load(tmp_path / "tok.json")
    assert again.encode(sample) == tok.encode(sample) and again.vocab_size == tok.vocab_size


def test_unknown_symbols_map_to_unk():
    tok = Tokenizer.train(["abc"], "char")
    assert tok.encode("abz") == tok.encode("ab") + [tok.unk_token_id]


def test_batch_pads_right():
    tok = Tokenizer.train(["abc", "a"], "char")
    batch = tok.batch(["abc", "a"], add_eos=True)
    assert batch["input_ids"].shape == (2, 4)
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert batch["input_ids"][1, 2:].tolist() == [0, 0]


def test_bad_level_and_files(tmp_path):
    with pytest.raises(ValueError, match="unknown tokenizer level 'byte'"):
        Tokenizer.train(["a"], "byte")
    with pytest.raises(FileNotFoundError, match="no tokenizer file"):
        Tokenizer.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(ValueError, match="cannot read tokenizer"):
        Tokenizer.load(tmp_path / "bad.json")
