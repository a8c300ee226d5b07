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

``Tokenizer`` has the interface every einformer tokenizer shares (tokenization.py): ``tok(texts,
padding=True, truncation=True, return_tensors="pt")``, ``batch_decode``, ``pad_token_id``...,
``save_pretrained`` / ``from_pretrained``.
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
from . import chunks
from .tokenization import pad_row, to_long_tensor
from .tokenization_fast import (  # noqa: F401  (encode_array, read_tokenizer_file: importable from here as before)
    PreTrainedTokenizerFast,
    encode_array,
    read_tokenizer_file,
)

SPECIALS = ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
LEVELS = ("char", "word", "bpe", "wordpiece", "bytebpe")
FILE = "tokenizer.json"


class Tokenizer(PreTrainedTokenizerFast):
    """Text <-> ids, with padding and the special ids einformer's models expect.

    ``encode`` adds no special token by default (the file has no post-processor, as transformers reads
    it too); ``add_bos`` / ``add_eos`` put [BOS] / [EOS] around the ids. ``decode`` skips special tokens
    by default in einformer's way: it stops at the first [EOS] and drops [PAD] and [BOS].
    """

    pad_token, bos_token, eos_token, unk_token = SPECIALS

    def __init__(self, backend: HFTokenizer) -> None:
        for i, token in enumerate(SPECIALS):
            if backend.token_to_id(token) != i:
                raise ValueError(f"tokenizer must map {token} to id {i}; was it built by einformer?")
        super().__init__(backend)

    @classmethod
    def train(cls, texts: Iterable[str], level: str, *, vocab_size: int = 8000, min_frequency: int = 1) -> Tokenizer:
        """Build a tokenizer of ``level`` ("char", "word" or "bpe") from ``texts`` (any iterable: each
        text is counted piece by piece, ``chunks.pieces``, so memory does not grow with its length)."""
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
        # each text streamed in pieces the pre-tokenizer splits at anyway: the same counts as the whole
        # text's, without the whole text's pre-tokenized copy (gigabytes for a 20 MB file)
        texts = chunks.pieces(texts, backend)
        texts = texts if level in ("char", "word") else bounded_words(texts)
        backend.train_from_iterator(texts, trainer=trainer)
        return cls(backend)

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        add_special_tokens: bool = True,
        *,
        truncation: bool | str = False,
        max_length: int | None = None,
        add_bos: bool = False,
        add_eos: bool = False,
    ) -> list[int]:
        """Text -> ids; ``add_bos`` / ``add_eos`` put [BOS] before and [EOS] after them (after truncation)."""
        ids = super().encode(text, text_pair, add_special_tokens, truncation=truncation, max_length=max_length)
        return [BOS_ID] * add_bos + ids + [EOS_ID] * add_eos

    def decode(self, token_ids, skip_special_tokens: bool = True) -> str:
        """Ids -> text. ``skip_special_tokens`` (the default): stop at the first [EOS], skip [PAD] and
        [BOS] ([UNK] stays visible); False: every id as its token, as transformers decodes."""
        return super().decode(token_ids, skip_special_tokens)

    def _decode(self, ids: list[int], skip_special_tokens: bool) -> str:
        if skip_special_tokens:
            ids = ids[: ids.index(EOS_ID)] if EOS_ID in ids else ids
            ids = [i for i in ids if i not in (PAD_ID, BOS_ID)]
        return self.backend.decode(ids, skip_special_tokens=False)

    def save_pretrained(self, directory: str | Path) -> Path:
        """``directory``/tokenizer.json (and no tokenizer_config.json: that marks a GPT-2 directory)."""
        directory = Path(directory)
        self.save(directory / FILE)
        return directory

    @classmethod
    def from_pretrained(cls, path: str | Path) -> Tokenizer:
        """A directory's tokenizer.json, or a tokenizer file itself (a run's source_tokenizer.json)."""
        path = Path(path)
        return cls.load(path / FILE if path.is_dir() else path)

    # -- old names, kept while callers move to __call__ / save_pretrained / from_pretrained --------------

    def batch(self, texts: list[str], *, add_bos: bool = False, add_eos: bool = False) -> dict[str, torch.Tensor]:
        """Right-padded ``input_ids`` and ``attention_mask`` (1 = token), both (B, T) int64."""
        rows = [{"input_ids": self.encode(t, add_bos=add_bos, add_eos=add_eos)} for t in texts]
        return self.pad(rows, padding=True, return_tensors="pt")

    def save(self, path: str | Path) -> None:
        with atomic_write(path, "w") as f:
            f.write(self.backend.to_str(pretty=True))

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no tokenizer file at {path}")
        backend = read_tokenizer_file(path)  # a malformed file: an error naming it
        try:
            return cls(backend)
        except ValueError as e:  # special tokens out of place: name the file too
            raise ValueError(f"{path}: {e}") from None


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


def pad_batch(rows: list[list[int]], pad_id: int = PAD_ID) -> dict[str, torch.Tensor]:
    """Right-pad lists of ids into ``input_ids`` and ``attention_mask`` (B, T_max)."""
    width = max((len(r) for r in rows), default=0)
    ids = [pad_row(r, width, pad_id, "right") for r in rows]
    mask = [pad_row([1] * len(r), width, 0, "right") for r in rows]
    return {"input_ids": to_long_tensor(ids), "attention_mask": to_long_tensor(mask)}
