"""BERT tokenizers from a Hugging Face directory, through Hugging Face ``tokenizers``.

``tokenizer.json`` (the fast tokenizer's own file) is used as is, so ids equal transformers'
exactly. With only ``vocab.txt``, the WordPiece tokenizer is built by ``tokenizers``' own BERT
implementation with the lower-casing, accent stripping and Chinese-character settings of
``tokenizer_config.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer as HFTokenizer
from tokenizers.implementations import BertWordPieceTokenizer

from ..checkpoint import atomic_write
from .tokenizer import read_tokenizer_file


class BertTokenizer:
    """``tok(texts, text_pair=None, padding=True, truncation=True, return_tensors="pt")`` -> input_ids,
    attention_mask, token_type_ids; [CLS] A [SEP] (B [SEP]) as BERT expects."""

    def __init__(self, backend: HFTokenizer, model_max_length: int = 512) -> None:
        self.backend, self.model_max_length = backend, model_max_length
        self.backend.no_padding()
        self.backend.no_truncation()
        for name in ("pad", "cls", "sep", "mask", "unk"):
            token_id = backend.token_to_id(f"[{name.upper()}]")
            if token_id is None:
                raise ValueError(f"the vocabulary has no [{name.upper()}] token; is this a BERT tokenizer?")
            setattr(self, f"{name}_token_id", token_id)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> BertTokenizer:
        directory = Path(directory)
        config_path = directory / "tokenizer_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        max_length = int(config.get("model_max_length", 512))
        max_length = 512 if max_length > 10**6 else max_length  # "no limit" sentinels
        if (directory / "tokenizer.json").is_file():
            return cls(read_tokenizer_file(directory / "tokenizer.json"), max_length)
        if (directory / "vocab.txt").is_file():
            wordpiece = BertWordPieceTokenizer(
                str(directory / "vocab.txt"),
                lowercase=config.get("do_lower_case", True),
                strip_accents=config.get("strip_accents"),
                handle_chinese_chars=config.get("tokenize_chinese_chars", True),
            )
            return cls(wordpiece._tokenizer, max_length)
        raise FileNotFoundError(f"no tokenizer.json or vocab.txt in {directory}")

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size()

    def __call__(
        self,
        text,
        text_pair=None,
        *,
        padding: bool | str = False,
        truncation: bool = False,
        max_length: int | None = None,
        return_tensors: str | None = None,
    ) -> dict:
        """Encode one text or a list (optionally with pairs). Padding is on the right."""
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        pairs = None if text_pair is None else ([text_pair] if isinstance(text_pair, str) else list(text_pair))
        if truncation:
            self.backend.enable_truncation(max_length or self.model_max_length, strategy="longest_first")
        try:
            inputs = texts if pairs is None else list(zip(texts, pairs, strict=True))
            encodings = self.backend.encode_batch(inputs)
        finally:
            self.backend.no_truncation()
        rows = {
            "input_ids": [e.ids for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
        }
        if padding:
            width = max_length if padding == "max_length" and max_length else max(len(r) for r in rows["input_ids"])
            fill = {"input_ids": self.pad_token_id, "token_type_ids": 0, "attention_mask": 0}
            rows = {k: [r + [fill[k]] * (width - len(r)) for r in v] for k, v in rows.items()}
        if return_tensors == "pt":
            try:
                return {k: torch.tensor(v, dtype=torch.long) for k, v in rows.items()}
            except ValueError:
                raise ValueError("sequences of different lengths need padding=True for return_tensors='pt'") from None
        return {k: v[0] for k, v in rows.items()} if single else rows

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return self.backend.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_write(directory / "tokenizer.json", "w") as f:
            f.write(self.backend.to_str())
        with atomic_write(directory / "tokenizer_config.json", "w") as f:
            json.dump({"tokenizer_class": "BertTokenizer", "model_max_length": self.model_max_length}, f)


def load_tokenizer(directory: str | Path) -> BertTokenizer:
    """The tokenizer of a BERT directory (Hugging Face's or ours)."""
    return BertTokenizer.from_pretrained(directory)
