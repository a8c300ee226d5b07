"""Readable tokens in the attention views (#31): GPT-2's byte-level pieces (``Ġbrown``, ``Ċ``, the
bytes of 春) are labelled with their text, read back through transformers' own decoding of each id,
and the raw pieces stay in the explorer's tooltips."""

import json
import re
import warnings

import pytest
import torch

transformers = pytest.importorskip("transformers")

from einformer.explain import (  # noqa: E402
    attention_maps,  # noqa: E402
    collect_attention,
    plot_attention,
    write_explorer,
)
from einformer.explain.tokens import byte_table, token_labels  # noqa: E402

TEXT = "the quick brown fox\n\tjumps  over 春 the dog"
SHOWN = {"↵": "\n", "⇥": "\t", "␣": " "}  # what the labels draw for whitespace a reader could not see


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    """A tiny GPT-2 directory saved by transformers, with a byte-level BPE trained on English only,
    so 春 stays three byte pieces."""
    from tokenizers.implementations import ByteLevelBPETokenizer

    path = tmp_path_factory.mktemp("gpt2")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["the quick brown fox jumps over the lazy dog\n"] * 20, vocab_size=300, min_frequency=1,
                            special_tokens=["<|endoftext|>"], show_progress=False)  # fmt: skip
    bpe.save_model(str(path))
    tok = transformers.GPT2TokenizerFast(str(path / "vocab.json"), str(path / "merges.txt"))
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=1, n_head=2,
                                     bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip
    transformers.GPT2LMHeadModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path, tok


def _unshow(label: str) -> str:
    return "".join(SHOWN.get(c, c) for c in re.sub(r" \(\d/\d\)$", "", label))


def test_byte_table_is_gpt2s():
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    assert byte_table() == {char: byte for byte, char in bytes_to_unicode().items()}


def test_labels_are_each_ids_text_as_transformers_decodes_it(gpt2_dir):
    path, tok = gpt2_dir
    ids = tok(TEXT)["input_ids"] + [tok.eos_token_id]
    record = collect_attention(str(path), TEXT + "<|endoftext|>")
    labels, pieces = record.rows["self"], record.row_pieces["self"]
    assert pieces == tok.convert_ids_to_tokens(ids)  # the raw pieces, kept as they are
    assert "Ġbrown" in pieces and "Ċ" in pieces and "ĉ" in pieces  # GPT-2's stand-ins for space, \n, \t
    spring = [i for i, label in enumerate(labels) if label.startswith("春")]
    assert [labels[i] for i in spring] == ["春 (1/3)", "春 (2/3)", "春 (3/3)"]  # one character, three byte pieces
    assert tok.decode([ids[i] for i in spring]) == "春"
    for i, (label, token_id) in enumerate(zip(labels, ids, strict=True)):
        if i not in spring:  # a whole character: exactly the tokenizer's decoding of this one id
            assert _unshow(label) == tok.decode([token_id]), (label, pieces[i])
    assert labels[labels.index("↵")] == "↵" and "⇥" in labels and "<|endoftext|>" in labels
    assert " brown" in labels and not any(c in "".join(labels) for c in "ĠĊĉ")
    assert record.cols == record.rows and record.col_pieces == record.row_pieces


def test_explorer_keeps_the_pieces_for_its_tooltips(gpt2_dir, tmp_path):
    path, _ = gpt2_dir
    record = collect_attention(str(path), TEXT)
    page = write_explorer(record, tmp_path / "page.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="attention-data">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</"))
    kind = data["kinds"][0]
    assert kind["rows"] == record.rows["self"] and " brown" in kind["rows"]
    assert kind["row_pieces"] == kind["col_pieces"] == record.row_pieces["self"] and "Ġbrown" in kind["row_pieces"]
    # the head view's canvas, the step view's key cells and the query menu take their tooltips from the pieces
    assert "e.target.title = pieces" in page and "title: k.col_pieces[j]" in page and "current().row_pieces" in page


def test_figures_get_the_readable_labels(gpt2_dir, tmp_path, monkeypatch):
    from matplotlib import font_manager, ft2font

    path, _ = gpt2_dir
    record = collect_attention(str(path), "the brown fox\n春")
    drawn = {}
    real_save = attention_maps.save_png

    def save(fig, p, dpi):
        drawn["labels"] = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        return real_save(fig, p, dpi=dpi)

    monkeypatch.setattr(attention_maps, "save_png", save)
    labels = record.rows["self"]
    assert labels == ["the", " brown", " fox", "↵", "春 (1/3)", "春 (2/3)", "春 (3/3)"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "Glyph ... missing from font(s)" would fail here
        plot_attention(record.maps["self"][0].mean(0), labels, labels, tmp_path / "map.png")
    font = ft2font.FT2Font(font_manager.findfont(font_manager.FontProperties()))
    spring = "春" if font.get_char_index(ord("春")) else "U+6625"  # matplotlib's default font has no CJK
    assert drawn["labels"] == ["the", " brown", " fox", "↵", f"{spring} (1/3)", f"{spring} (2/3)", f"{spring} (3/3)"]


def test_other_tokenizers_keep_their_pieces():
    """WordPiece pieces are text already: ``##ing`` and ``[CLS]`` stay as they are."""
    from tokenizers import Tokenizer, decoders, models

    backend = Tokenizer(models.WordPiece({"[CLS]": 0, "[UNK]": 1, "walk": 2, "##ing": 3}, unk_token="[UNK]"))
    backend.decoder = decoders.WordPiece()
    assert token_labels(backend, [0, 2, 3]) == (["[CLS]", "walk", "##ing"], ["[CLS]", "walk", "##ing"])
