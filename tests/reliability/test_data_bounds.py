"""Data that used to hang or exhaust memory: an over-long "word" in BPE training, a large text
encoded in one tokenizer call."""

import warnings

import pytest
import torch

from einformer.data.tokenizer import MAX_TRAINING_WORD, Tokenizer, bounded_words

TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n  All:\tSpeak, speak.\n"
    "   indented   runs   of spaces\n\n\n42 3.14 naïve café 東京 🙂 x=f(y)*2;\n"
) * 20


@pytest.mark.parametrize("level", ["char", "word", "bpe", "bytebpe", "wordpiece"])
@pytest.mark.parametrize("chunk", [1, 37, 500, 1 << 20])
def test_chunked_encoding_gives_the_one_call_ids(level, chunk):
    tok = Tokenizer.train([TEXT], level, vocab_size=300)
    expected = tok.encode(TEXT)
    got = tok.encode_array(TEXT, chunk=chunk)
    assert got.dtype == torch.int32 and got.tolist() == expected


def test_an_over_long_word_is_cut_for_bpe_training_and_says_so():
    blob = "x" * 200_000  # a base64 blob or minified line: no white space at all
    text = f"normal words here\n{blob}\nand more words\n"
    with pytest.warns(UserWarning, match=r"1 run\(s\) of over 100 characters"):
        tok = Tokenizer.train([text], "bytebpe", vocab_size=300)
    assert tok.decode(tok.encode(text)) == text  # byte-level BPE still round-trips every byte
    with pytest.warns(UserWarning):
        pieces = list(bounded_words([text]))
    assert max(map(len, pieces)) <= max(MAX_TRAINING_WORD, len("normal words here\n"))
    assert "".join(pieces) == text  # nothing is lost, only cut


def test_texts_without_long_runs_pass_unchanged():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no warning
        assert list(bounded_words([TEXT, "short"])) == [TEXT, "short"]
