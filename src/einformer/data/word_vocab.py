"""Transformer-XL's word-level vocabulary, read from a Hugging Face TransfoXL directory.

The published checkpoints ship the authors' ``Vocab`` object as ``vocab.pkl``: a pickled dict whose
``idx2sym`` lists the words by id (``sym2idx`` the reverse). It is read with
``interop.plain_pickle``, which builds plain data itself and refuses anything that would run code.
A plain-text ``vocab.txt`` (one word per line, line i = id i; converted once from a vocab.pkl you
trust) is read instead when present.

Text is split on whitespace (the WikiText files are already tokenised, one article line per
line), each line followed by ``<eos>`` as the authors' corpus reader does; unknown words become
``<unk>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

FILES = ("vocab.txt", "vocab.pkl", "vocab.bin")


def is_word_vocab_dir(directory: str | Path) -> bool:
    return any((Path(directory) / name).is_file() for name in FILES)


class WordVocab:
    """Words <-> ids for a Transformer-XL checkpoint."""

    def __init__(self, words: list[str], *, lower_case: bool = False, source: str = "vocabulary") -> None:
        if not words or not all(isinstance(w, str) for w in words):
            raise ValueError(f"{source}: a vocabulary must list words (strings) by id")
        self.words, self.lower_case = list(words), lower_case
        self.ids = {w: i for i, w in enumerate(self.words)}
        self.eos_id = self.ids.get("<eos>")
        self.unk_id = self.ids.get("<unk>", self.ids.get("<UNK>"))
        self.pad_id = self.bos_id = None

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> WordVocab:
        d = Path(directory)
        if (d / "vocab.txt").is_file():
            lines = (d / "vocab.txt").read_text(encoding="utf-8").split("\n")
            return cls(lines[:-1] if lines and lines[-1] == "" else lines, source=str(d / "vocab.txt"))
        from ..interop.plain_pickle import read_plain_pickle

        for name in ("vocab.pkl", "vocab.bin"):
            if (d / name).is_file():
                data = read_plain_pickle(d / name)
                if not isinstance(data, dict) or "idx2sym" not in data:
                    raise ValueError(f"{d / name} holds no idx2sym list: it is not a Transformer-XL vocabulary")
                return cls(data["idx2sym"], lower_case=bool(data.get("lower_case")), source=str(d / name))
        raise FileNotFoundError(f"{d} has no Transformer-XL vocabulary ({', '.join(FILES)})")

    def save_text(self, path: str | Path) -> None:
        """vocab.txt: one word per line, line i = id i (the plain form ``from_pretrained`` prefers)."""
        from ..checkpoint import atomic_write

        with atomic_write(path, "w") as f:
            f.write("".join(w + "\n" for w in self.words))

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def _id(self, word: str) -> int:
        if word in self.ids:
            return self.ids[word]
        if self.unk_id is None:
            raise ValueError(f"{word!r} is not in the vocabulary, which has no <unk>")
        return self.unk_id

    def encode(self, text: str, *, add_eos: bool = False) -> list[int]:
        """Whitespace-separated words -> ids; with ``add_eos``, ``<eos>`` after every line."""
        text = text.lower() if self.lower_case else text
        out = []
        for line in text.split("\n"):
            out += [self._id(w) for w in line.split()]
            if add_eos and self.eos_id is not None and line.strip():
                out.append(self.eos_id)
        return out

    def encode_array(self, text: str) -> torch.Tensor:
        """(N,) int32 ids of a whole text, ``<eos>`` closing each non-empty line (as the authors' corpus)."""
        return torch.tensor(self.encode(text, add_eos=True), dtype=torch.int32)

    def id_to_token(self, i: int) -> str:
        return self.words[int(i)]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> words joined by spaces, ``<eos>`` read as a line break."""
        words = [self.words[int(i)] for i in ids]
        return " ".join(words).replace(" <eos> ", "\n").replace(" <eos>", "\n").replace("<eos> ", "\n")
