"""Memory bounded by design (issue #32, group 3): a long text is encoded, and a tokenizer trained,
piece by piece, cut where the tokenizer cannot merge across, so the ids (and the trained
vocabulary) equal the whole text's; the pieces stay near the chunk size whether or not the text has
newlines."""

import random

import pytest
import torch
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import normalizers, pre_tokenizers

from einformer.data.tokenizer import Tokenizer, encode_array

BASE = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n  All:\tSpeak, speak.\n"
    "   indented   runs   of spaces\n\n\n42 3.14 naïve café 東京 🙂 x=f(y)*2; don't [EOS] [PAD]x\r\n"
)
ONE_LINE = BASE.replace("\n", " ") * 40  # no newline at all: before, encoded in one call
NO_SPACES = "".join(random.Random(0).choice("abcdefg,.;東") for _ in range(6000))  # no white space either
TRAIN = BASE.replace("[EOS] [PAD]", "") * 3  # the special tokens only in the texts encoded
TEXTS = {"multi-line": BASE * 40, "one-line": ONE_LINE, "no-spaces": NO_SPACES}


@pytest.mark.parametrize("level", ["char", "word", "bpe", "bytebpe", "wordpiece"])
@pytest.mark.parametrize("name", sorted(TEXTS))
def test_piecewise_ids_equal_the_whole_text_ids_and_pieces_stay_small(level, name):
    text = TEXTS[name]
    tok = Tokenizer.train([TRAIN], level, vocab_size=300)
    expected = tok.backend.encode(text, add_special_tokens=False).ids
    for chunk in (7, 64, 500):
        got = tok.encode_array(text, chunk=chunk)
        assert got.dtype == torch.int32 and got.tolist() == expected, (level, name, chunk)
    spy = _Recording(tok.backend)
    assert encode_array(spy, text, chunk=500).tolist() == expected
    if level in ("char", "word", "bytebpe", "wordpiece") and name != "no-spaces":
        assert max(spy.lengths) <= 500, (level, name, max(spy.lengths))  # before: the one-line text in one call
    if level == "char":
        assert max(spy.lengths) <= 500  # a character tokenizer is cut anywhere, even without spaces


class _Recording:
    """A tokenizer that records the length of every text it is asked to encode."""

    def __init__(self, backend):
        self.backend, self.lengths = backend, []

    def encode(self, text, *args, **kwargs):
        self.lengths.append(len(text))
        return self.backend.encode(text, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.backend, name)


def test_a_gpt2_style_tokenizer_with_a_prefix_space_and_a_prepending_normalizer():
    """Tokenizers einformer reads but did not build: byte-level with add_prefix_space, and a
    sentencepiece-like normalizer that prepends to every input (no safe cut: encoded whole)."""
    text = TEXTS["one-line"]
    base = Tokenizer.train([TRAIN], "bytebpe", vocab_size=300).backend
    prefixed = HFTokenizer.from_str(base.to_str())
    prefixed.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    prepended = HFTokenizer.from_str(Tokenizer.train([TRAIN], "bpe", vocab_size=300).backend.to_str())
    prepended.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    prepended.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")
    from einformer.data import chunks

    for backend in (prefixed, prepended):
        expected = backend.encode(text, add_special_tokens=False).ids
        assert chunks.encode_array(backend, text, chunk=50).tolist() == expected
    assert len(list(chunks.spans(prepended, text, 50))) == 1


@pytest.mark.parametrize("level", ["char", "word", "bpe", "bytebpe"])  # WordPieceTrainer is not deterministic
def test_training_on_pieces_gives_the_whole_text_tokenizer(level):
    """Tokenizer.train counts each text piece by piece; the vocabulary (and merges) equal training on
    the whole text at once, as einformer did before."""
    text = TEXTS["one-line"].replace("[EOS] [PAD]", "") + TRAIN * 7
    got = Tokenizer.train([text], level, vocab_size=300)
    whole = Tokenizer.train([TRAIN], level, vocab_size=300).backend  # the same pipeline...
    whole = HFTokenizer.from_str(whole.to_str())
    trainer = _trainer(level)
    whole.train_from_iterator([text], trainer=trainer)  # ...trained on the whole text in one piece
    assert got.backend.to_str() == whole.to_str()


def _trainer(level):
    from tokenizers import pre_tokenizers as pt
    from tokenizers import trainers

    from einformer.data.tokenizer import SPECIALS

    if level in ("char", "word"):
        return trainers.WordLevelTrainer(special_tokens=SPECIALS, min_frequency=1)
    if level == "wordpiece":
        return trainers.WordPieceTrainer(vocab_size=300, special_tokens=SPECIALS, min_frequency=1)
    extra = {"initial_alphabet": pt.ByteLevel.alphabet()} if level == "bytebpe" else {}
    return trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS, min_frequency=1, **extra)


@pytest.mark.parametrize("max_blocks", [None, 3])
def test_streamed_evaluation_equals_the_evaluation_of_the_whole_ids(max_blocks):
    """evaluate reads the text piece by piece (before: the whole text's ids, or one tokenizer call on a
    one-line text, 1.06 GB for 2 MB); the loss and bits per character equal those of the whole ids."""
    from einformer import GPT, GPTConfig
    from einformer.data.text import TokenBlocks
    from einformer.recipes.language_model import evaluate_lm

    text = TEXTS["one-line"]
    tok = Tokenizer.train([text], "char")
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_preset("tiny", vocab_size=tok.vocab_size, max_position=32))
    spy = _Recording(tok.backend)
    blocks = TokenBlocks(spy, text, 32, chunk=1000)
    streamed = evaluate_lm(model, blocks, 32, chars=len(text), max_blocks=max_blocks, batch_size=16)
    whole = evaluate_lm(model, tok.encode_array(text), 32, chars=len(text), max_blocks=max_blocks, batch_size=16)
    assert streamed == pytest.approx(whole, rel=1e-6) and max(spy.lengths) <= 1000 and len(spy.lengths) >= 6


@pytest.mark.parametrize("max_segments", [None, 4])
def test_streamed_transformer_xl_evaluation_equals_the_evaluation_of_the_whole_ids(max_segments):
    """A Transformer-XL run's evaluate reads the text piece by piece too (before: the whole text's int32
    ids); the loss over one stream with memory and the bits per character equal those of the whole ids."""
    from einformer import TransformerXL, TransformerXLConfig
    from einformer.recipes.language_model import TextSegments, evaluate_stream

    text = TEXTS["one-line"][:3000]
    tok = Tokenizer.train([text], "char")
    torch.manual_seed(0)
    config = TransformerXLConfig.from_preset("tiny", vocab_size=tok.vocab_size, segment_length=16, mem_len=16)
    model = TransformerXL(config).eval()
    spy = _Recording(tok.backend)
    streamed = evaluate_stream(model, TextSegments(spy, text, 16, chunk=500), 16, mem_len=16, chars=len(text),
                               max_segments=max_segments)  # fmt: skip
    whole = evaluate_stream(model, tok.encode_array(text), 16, mem_len=16, chars=len(text), max_segments=max_segments)
    assert streamed == pytest.approx(whole, rel=1e-6) and max(spy.lengths) <= 500 and len(spy.lengths) >= 6
