"""Tokenizers: character, word or BPE level, all Hugging Face ``tokenizers`` underneath.

Every einformer tokenizer is a ``tokenizers.Tokenizer`` saved as a standard tokenizer.json with the
same four special tokens at the same ids, so any run directory can be read by the Hugging Face
stack too:

    [PAD] = 0, [BOS] = 1, [EOS] = 2, [UNK] = 3

* ``char``: every character is a token (digits, dates, Chinese numerals, Tiny Shakespeare);
* ``word``: whitespace-separated words (English number words);
* ``bpe``: byte-pair encoding learned from the user's text (Sennrich et al. 2016), with the
  Metaspace pre-tokenizer so decoding restores the spaces;
* ``wordpiece``: BERT's sub-word scheme (continuations marked ``##``), learned the same way;
* ``bytebpe``: GPT-2's byte-level BPE: any text round-trips exactly, newlines and all (for
  language modelling).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer

from ..checkpoint import atomic_write

SPECIALS = ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
LEVELS = ("char", "word", "bpe", "wordpiece", "bytebpe")


class Tokenizer:
    """Text <-> ids, with padding and the special ids einformer's models expect."""

    def __init__(self, backend: HFTokenizer) -> None:
        for i, token in enumerate(SPECIALS):
            if backend.token_to_id(token) != i:
                raise ValueError(f"tokenizer must map {token} to id {i}; was it built by einformer?")
        self.backend = backend

    pad_id, bos_id, eos_id, unk_id = PAD_ID, BOS_ID, EOS_ID, UNK_ID

    @classmethod
    def train(cls, texts: Iterable[str], level: str, *, vocab_size: int = 8000, min_frequency: int = 1) -> Tokenizer:
        """Build a tokenizer of ``level`` ("char", "word" or "bpe") from ``texts``."""
        if level == "char":
            backend = HFTokenizer(models.WordLevel(unk_token="[UNK]"))
            backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
            backend.decoder = decoders.Fuse()
            trainer = trainers.WordLevelTrainer(special_tokens=SPECIALS, min_frequency=min_frequency)
        elif level == "word":
            backend = HFTokenizer(models.WordLevel(unk_token="[UNK]"))
            backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
            trainer = trainers.WordLevelTrainer(special_tokens=SPECIALS, min_frequency=min_frequency)
        elif level == "bpe":
            backend = HFTokenizer(models.BPE(unk_token="[UNK]"))
            backend.pre_tokenizer = pre_tokenizers.Metaspace()
            backend.decoder = decoders.Metaspace()
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=min_frequency)
        elif level == "bytebpe":
            backend = HFTokenizer(models.BPE())
            backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            backend.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(
                vocab_size=vocab_size,
                special_tokens=SPECIALS,
                min_frequency=min_frequency,
                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            )
        elif level == "wordpiece":
            backend = HFTokenizer(models.WordPiece(unk_token="[UNK]"))
            backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
            backend.decoder = decoders.WordPiece()
            trainer = trainers.WordPieceTrainer(
                vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=min_frequency
            )
        else:
            raise ValueError(f"unknown tokenizer level {level!r}; choose one of {LEVELS}")
        texts = texts if level in ("char", "word") else bounded_words(texts)
        backend.train_from_iterator(texts, trainer=trainer)
        return cls(backend)

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size()

    def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        ids = self.backend.encode(text, add_special_tokens=False).ids
        return [BOS_ID] * add_bos + ids + [EOS_ID] * add_eos

    def encode_array(self, text: str, *, chunk: int = 1 << 16) -> torch.Tensor:
        """(N,) int32 ids of a long text, ``chunk`` characters at a time (``encode_array``)."""
        return encode_array(self.backend, text, chunk=chunk)

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text, stopping at the first [EOS] and skipping [PAD]/[BOS]."""
        kept = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                kept.append(i)
        return self.backend.decode(kept, skip_special_tokens=False)

    def id_to_token(self, i: int) -> str:
        return self.backend.id_to_token(int(i))

    def batch(self, texts: list[str], *, add_bos: bool = False, add_eos: bool = False) -> dict[str, torch.Tensor]:
        """Right-padded ``input_ids`` and ``attention_mask`` (1 = token), both (B, T) int64."""
        rows = [self.encode(t, add_bos=add_bos, add_eos=add_eos) for t in texts]
        return pad_batch(rows)

    def save(self, path: str | Path) -> None:
        with atomic_write(path, "w") as f:
            f.write(self.backend.to_str(pretty=True))

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no tokenizer file at {path}")
        return cls(read_tokenizer_file(path))


MAX_TRAINING_WORD = 100  # characters; see ``bounded_words``


def bounded_words(texts: Iterable[str], max_word: int = MAX_TRAINING_WORD) -> Iterator[str]:
    """The training texts of a sub-word tokenizer, with every run of more than ``max_word``
    characters without white space cut into ``max_word``-character pieces, each its own text.

    A BPE trainer rescans a whole word for each merge it applies there, so one 200,000-character
    "word" (a minified file, a base64 blob, a line of digits) took 24 s and 3 GB here, and an 8 MB
    line over 300 s. Texts without such a run pass unchanged; a warning says how many were cut.
    """
    long_run = re.compile(rf"\S{{{max_word + 1},}}")
    cut = 0
    for text in texts:
        if len(text) <= max_word or not long_run.search(text):
            yield text
            continue
        start = 0
        for match in long_run.finditer(text):
            yield text[start : match.start()]
            word = match.group()
            yield from (word[i : i + max_word] for i in range(0, len(word), max_word))
            cut += 1
            start = match.end()
        yield text[start:]
    if cut:
        warnings.warn(
            f"{cut} run(s) of over {max_word} characters without white space were cut into {max_word}-character "
            "pieces to train the tokenizer (unbounded, BPE training on them takes minutes and gigabytes)",
            stacklevel=2,
        )


def read_tokenizer_file(path: str | Path) -> HFTokenizer:
    """A tokenizer.json through ``tokenizers``; a malformed file is a ValueError naming it."""
    try:
        return HFTokenizer.from_file(str(path))
    except Exception as e:  # the Rust side raises a bare Exception on a malformed file
        raise ValueError(f"cannot read tokenizer {path}: {e}; re-save the tokenizer") from None


def encode_array(backend: HFTokenizer, text: str, *, chunk: int = 1 << 16) -> torch.Tensor:
    """(N,) int32 ids of a long text, encoded ``chunk`` characters at a time.

    One tokenizer call on a whole file keeps every token's string and offsets alive (about 475
    bytes per character for 20 MB); chunks keep memory near the text and its 4-byte ids. Chunks
    end after a newline that a non-space character follows, where the char, word, byte-level BPE
    and WordPiece pre-tokenizers split anyway, so the ids equal one call's. Metaspace BPE (the
    seq2seq tokenizer, for short texts) keeps a newline inside a word: it is encoded whole.
    """
    pieces, start = [], 0
    whole = type(backend.pre_tokenizer).__name__ == "Metaspace"
    while start < len(text):
        end = len(text) if whole else min(len(text), start + chunk)
        if end < len(text):
            cut = _safe_cut(text, start, end)
            end = cut if cut is not None else len(text)
        ids = backend.encode(text[start:end], add_special_tokens=False).ids
        pieces.append(torch.tensor(ids, dtype=torch.int32))
        start = end
    return torch.cat(pieces) if pieces else torch.zeros(0, dtype=torch.int32)


def _safe_cut(text: str, start: int, end: int) -> int | None:
    """The last position in (start, end] just after a newline and before a non-space character."""
    i = text.rfind("\n", start, end)
    while i != -1:
        if i + 1 < len(text) and not text[i + 1].isspace():
            return i + 1
        i = text.rfind("\n", start, i)
    return None


def pad_batch(rows: list[list[int]], pad_id: int = PAD_ID) -> dict[str, torch.Tensor]:
    """Right-pad lists of ids into ``input_ids`` and ``attention_mask`` (B, T_max)."""
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask}
