"""The tokenizer of a Hugging Face Marian directory: sentencepiece pieces looked up in vocab.json.

A Marian directory holds ``source.spm`` and ``target.spm`` (sentencepiece models, read with the
``sentencepiece`` library) and ``vocab.json`` (piece -> model id, one table for both sides unless
``target_vocab.json`` is there too, tokenizer_config's ``separate_vocabs``). Encoding splits the
text into the source model's pieces, maps each through vocab.json (``<unk>`` when absent) and
appends ``</s>``; a leading language code such as ``>>fr<<`` is kept as one token. The text is not
normalised first (transformers' ``MarianTokenizer`` defines a Moses punctuation normaliser but does
not call it while encoding). Decoding maps ids back to pieces and joins them with the target
model. ``for_target()`` gives the target side's view, for encoding labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..checkpoint import atomic_write, read_json
from .tokenization import PreTrainedTokenizer

FILES = ("source.spm", "target.spm", "vocab.json")
SPIECE_UNDERLINE = "\u2581"


def is_marian_tokenizer_dir(directory: str | Path) -> bool:
    return all((Path(directory) / name).is_file() for name in FILES)


def _load_spm(path: Path):
    try:
        import sentencepiece
    except ImportError:
        raise ImportError("Marian tokenizers need sentencepiece: pip install sentencepiece") from None
    processor = sentencepiece.SentencePieceProcessor()
    processor.Load(str(path))
    return processor


class MarianTokenizer(PreTrainedTokenizer):
    """Text <-> Marian ids. ``encode`` reads the source side; ``for_target()`` the target side.
    ``decode`` skips the special tokens by default and then stops at the first ``</s>``."""

    def __init__(self, directory: str | Path, *, target: bool = False) -> None:
        d = Path(directory)
        missing = [name for name in FILES if not (d / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{d} is a Marian directory without its tokenizer files {missing}: a Marian tokenizer is "
                "source.spm + target.spm + vocab.json (save them with the model, e.g. MarianTokenizer.save_pretrained)"
            )
        config = (
            read_json(d / "tokenizer_config.json", "tokenizer config")
            if (d / "tokenizer_config.json").is_file()
            else {}
        )
        self.directory, self.target = d, target
        self.separate_vocabs = bool(config.get("separate_vocabs", False))
        self.unk_token = config.get("unk_token", "<unk>")
        self.eos_token = config.get("eos_token", "</s>")
        self.pad_token = config.get("pad_token", "<pad>")
        self.model_max_length = int(config.get("model_max_length", 512))
        self.source_vocab = _read_vocab(d / "vocab.json")
        target_vocab = _read_vocab(d / "target_vocab.json") if self.separate_vocabs else self.source_vocab
        self.vocab = target_vocab if target else self.source_vocab
        self.id_to_piece = {i: piece for piece, i in target_vocab.items()}
        for name in ("unk_token", "eos_token", "pad_token"):
            if getattr(self, name) not in self.vocab:
                raise ValueError(f"{d}: vocab.json has no {name} {getattr(self, name)!r}; is it a Marian vocabulary?")
        self.specials = {self.unk_token, self.eos_token, self.pad_token}
        self.spm_source = _load_spm(d / "source.spm")
        self.spm_target = _load_spm(d / "target.spm")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> MarianTokenizer:
        return cls(directory)

    def for_target(self) -> MarianTokenizer:
        """The same files read for the target side (target.spm and the target vocabulary)."""
        return MarianTokenizer(self.directory, target=True)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Copy the tokenizer files (and tokenizer_config.json) into ``directory``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        names = [*FILES, "tokenizer_config.json", "target_vocab.json"]
        for name in names:
            if (self.directory / name).is_file() and (self.directory / name).resolve() != (out / name).resolve():
                with atomic_write(out / name) as f:
                    f.write((self.directory / name).read_bytes())
        return out

    @property
    def vocab_size(self) -> int:
        return len(self.source_vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def _convert_token_to_id(self, token: str) -> int | None:
        return self.vocab.get(token)

    def _convert_id_to_token(self, index: int) -> str:
        """A target id's piece (vocab.json, else the target sentencepiece model)."""
        return self.id_to_piece.get(index) or self.spm_target.IdToPiece(index) or self.unk_token

    def tokenize(self, text: str) -> list[str]:
        """Text -> pieces: a leading >>xx<< language code, then the sentencepiece pieces."""
        code = []
        if text.startswith(">>") and (end := text.find("<<")) != -1:
            code, text = [text[: end + 2]], text[end + 2 :]
        spm = self.spm_target if self.target else self.spm_source
        return code + spm.encode(text, out_type=str)

    def _tokenize_ids(self, text: str) -> list[int]:
        unk = self.unk_token_id
        return [self.vocab.get(piece, unk) for piece in self.tokenize(text)]

    def build_inputs_with_special_tokens(self, ids: list[int], pair: list[int] | None = None) -> list[int]:
        """``</s>`` appended (Marian's only special token on the input)."""
        return ids + (pair or []) + [self.eos_token_id]

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        add_special_tokens: bool = True,
        *,
        truncation: bool | str = False,
        max_length: int | None = None,
        add_eos: bool | None = None,
    ) -> list[int]:
        """Text -> ids, ``</s>`` appended unless ``add_special_tokens=False`` (``add_eos``: its old name)."""
        add = add_special_tokens if add_eos is None else add_eos
        return super().encode(text, text_pair, add, truncation=truncation, max_length=max_length)

    def decode(self, token_ids, skip_special_tokens: bool = True) -> str:
        """Target ids -> text; ``skip_special_tokens`` (the default) stops at ``</s>`` and skips the
        start (pad) token."""
        return super().decode(token_ids, skip_special_tokens)

    def _decode(self, ids: list[int], skip_special_tokens: bool) -> str:
        pieces, out = [], []
        eos = self.eos_token_id
        for i in ids:
            if skip_special_tokens and i == eos:
                break
            piece = self._convert_id_to_token(i)
            if piece in self.specials:
                if skip_special_tokens:
                    continue
                out.append(self.spm_target.decode_pieces(pieces) + piece + " ")
                pieces = []
            else:
                pieces.append(piece)
        text = "".join(out) + self.spm_target.decode_pieces(pieces)
        return text.replace(SPIECE_UNDERLINE, " ").strip()

    # -- old name, kept while callers move to __call__ ------------------------------------------------

    def batch(self, texts: list[str], *, add_eos: bool = True) -> dict[str, torch.Tensor]:
        """Right-padded ``input_ids`` and ``attention_mask`` (B, T), as MarianTokenizer(texts, padding=True)."""
        return self(texts, add_special_tokens=add_eos, padding=True, return_tensors="pt")


def _read_vocab(path: Path) -> dict[str, int]:
    try:
        vocab = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read the Marian vocabulary {path}: {e}") from None
    if not isinstance(vocab, dict) or not all(isinstance(v, int) for v in vocab.values()):
        raise ValueError(f"{path} must map each piece to an integer id")
    return vocab
