"""Readable tokens for Marian (#31): its sentencepiece pieces (``▁Hund``) are labelled with their text in
the attention views, as byte-level pieces are, and the raw pieces stay for the tooltips. The oracle is
transformers' MarianTokenizer on the same directory: its pieces, and its text for them."""

import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

from einformer.data.marian_tokenizer import MarianTokenizer  # noqa: E402
from einformer.explain import collect_attention  # noqa: E402
from einformer.explain.tokens import token_labels  # noqa: E402
from tests.interop.test_marian import _hf_tokenizer, _save_marian  # noqa: E402

TEXT = "Zwei Hunde spielen im Schnee, während ein Kind zuschaut!"


@pytest.fixture(scope="module")
def marian_dir(tmp_path_factory):
    return _save_marian(tmp_path_factory.mktemp("marian") / "opus-mt-tiny")


def test_marian_pieces_are_labelled_with_their_text(marian_dir):
    theirs = _hf_tokenizer(marian_dir)
    ids = theirs(TEXT)["input_ids"]  # pieces, then </s>
    labels, pieces = token_labels(MarianTokenizer(marian_dir), ids)
    assert pieces == theirs.convert_ids_to_tokens(ids)  # the raw pieces, kept for the tooltips
    assert "▁Schnee" in pieces and pieces[-1] == "</s>"
    assert labels[-1] == "</s>"  # a special token stays as it is
    assert " Schnee" in labels and not any("▁" in label for label in labels)
    for label, piece in zip(labels[:-1], pieces[:-1], strict=True):  # each piece's own text, its space shown
        assert label.strip() == theirs.convert_tokens_to_string([piece]) and label.startswith(" ") == (piece[0] == "▁")
    assert "".join(labels[:-1]).strip() == theirs.convert_tokens_to_string(pieces[:-1]) == TEXT


def test_the_attention_views_of_a_marian_directory(marian_dir):
    theirs = _hf_tokenizer(marian_dir)
    record = collect_attention(str(marian_dir), TEXT)
    labels, pieces = record.cols["cross"], record.col_pieces["cross"]  # the source tokens: cross-attention's keys
    assert record.rows["encoder"] == labels and record.row_pieces["encoder"] == pieces
    assert pieces == theirs.convert_ids_to_tokens(theirs(TEXT)["input_ids"])
    assert "".join(labels[:-1]).strip() == TEXT and labels[-1] == "</s>" and "▁Kind" in pieces
