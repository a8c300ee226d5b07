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

from pathlib import Path

import torch

from ..checkpoint import atomic_write, read_json, write_json
from .tokenization import PreTrainedTokenizer

FILES = ("vocab.txt", "vocab.pkl", "vocab.bin")
CONFIG = "tokenizer_config.json"  # {"lower_case": true} beside vocab.txt, as save_pretrained writes it


def is_word_vocab_dir(directory: str | Path) -> bool:
    return any((Path(directory) / name).is_file() for name in FILES)


class WordVocab(PreTrainedTokenizer):
    """Words <-> ids for a Transformer-XL checkpoint. Special tokens: ``<eos>`` and ``<unk>`` where the
    vocabulary has them; ``encode`` adds none (``add_eos=True`` closes each line with ``<eos>``)."""

    def __init__(self, words: list[str], *, lower_case: bool = False, source: str = "vocabulary") -> None:
        if not words or not all(isinstance(w, str) for w in words):
            raise ValueError(f"{source}: a vocabulary must list words (strings) by id")
        self.words, self.lower_case = list(words), lower_case
        self.ids = {w: i for i, w in enumerate(self.words)}
        self.eos_token = "<eos>" if "<eos>" in self.ids else None
        self.unk_token = next((t for t in ("<unk>", "<UNK>") if t in self.ids), None)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> WordVocab:
        d = Path(directory)
        if (d / "vocab.txt").is_file():
            lines = (d / "vocab.txt").read_text(encoding="utf-8").split("\n")
            config = read_json(d / CONFIG, "tokenizer config") if (d / CONFIG).is_file() else {}
            return cls(
                lines[:-1] if lines and lines[-1] == "" else lines,
                lower_case=bool(config.get("lower_case", False)),
                source=str(d / "vocab.txt"),
            )
        from ..interop.plain_pickle import read_plain_pickle

        for name in ("vocab.pkl", "vocab.bin"):
            if (d / name).is_file():
                data = read_plain_pickle(d / name)
                if not isinstance(data, dict) or "idx2sym" not in data:
                    raise ValueError(f"{d / name} holds no idx2sym list: it is not a Transformer-XL vocabulary")
                return cls(data["idx2sym"], lower_case=bool(data.get("lower_case")), source=str(d / name))
        raise FileNotFoundError(f"{d} has no Transformer-XL vocabulary ({', '.join(FILES)})")

    def save_pretrained(self, directory: str | Path) -> Path:
        """vocab.txt, and tokenizer_config.json ``{"lower_case": true}`` for a lower-casing vocabulary."""
        directory = Path(directory)
        self.save_text(directory / "vocab.txt")
        if self.lower_case:
            write_json(directory / CONFIG, {"lower_case": True})
        return directory

    def save_text(self, path: str | Path) -> None:
        """vocab.txt: one word per line, line i = id i (the plain form ``from_pretrained`` prefers)."""
        with atomic_write(path, "w") as f:
            f.write("".join(w + "\n" for w in self.words))

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.ids)

    def _convert_token_to_id(self, token: str) -> int | None:
        return self.ids.get(token)

    def _convert_id_to_token(self, index: int) -> str:
        return self.words[index]

    def _id(self, word: str) -> int:
        if word in self.ids:
            return self.ids[word]
        if self.unk_token is None:
            raise ValueError(f"{word!r} is not in the vocabulary, which has no <unk>")
        return self.ids[self.unk_token]

    def _words(self, text: str, *, add_eos: bool) -> list[int]:
        """Whitespace-separated words -> ids; with ``add_eos``, ``<eos>`` after every non-empty line."""
        text = text.lower() if self.lower_case else text
        out = []
        for line in text.split("\n"):
            out += [self._id(w) for w in line.split()]
            if add_eos and self.eos_token is not None and line.strip():
                out.append(self.ids[self.eos_token])
        return out

    def _tokenize_ids(self, text: str) -> list[int]:
        return self._words(text, add_eos=False)

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        add_special_tokens: bool = True,
        *,
        truncation: bool | str = False,
        max_length: int | None = None,
        add_eos: bool = False,
    ) -> list[int]:
        """Whitespace-separated words -> ids; with ``add_eos``, ``<eos>`` after every line (one text only)."""
        if not add_eos:
            return super().encode(text, text_pair, add_special_tokens, truncation=truncation, max_length=max_length)
        if text_pair is not None or truncation:
            raise ValueError("add_eos=True encodes one whole text: pass no text_pair and no truncation")
        return self._words(text, add_eos=True)

    def encode_array(self, text: str) -> torch.Tensor:
        """(N,) int32 ids of a whole text, ``<eos>`` closing each non-empty line (as the authors' corpus)."""
        return torch.tensor(self.encode(text, add_eos=True), dtype=torch.int32)

    def _decode(self, ids: list[int], skip_special_tokens: bool) -> str:
        """Ids -> words joined by spaces, ``<eos>`` read as a line break (``skip_special_tokens`` drops
        ``<eos>`` and ``<unk>``)."""
        if skip_special_tokens:
            ids = [i for i in ids if i not in self.all_special_ids]
        words = [self.words[i] for i in ids]
        return " ".join(words).replace(" <eos> ", "\n").replace(" <eos>", "\n").replace("<eos> ", "\n")
