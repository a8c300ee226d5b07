"""BERT tokenizers from a Hugging Face directory, through Hugging Face ``tokenizers``.

``tokenizer.json`` (the fast tokenizer's own file) is used as is, so ids equal transformers'
exactly. With only ``vocab.txt``, the WordPiece tokenizer is built by ``tokenizers``' own BERT
implementation with the lower-casing, accent stripping and Chinese-character settings of
``tokenizer_config.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers.implementations import BertWordPieceTokenizer

from ..checkpoint import atomic_write
from .tokenization_fast import PreTrainedTokenizerFast, read_tokenizer_file


class BertTokenizer(PreTrainedTokenizerFast):
    """``tok(texts, text_pair=None, padding=True, truncation=True, return_tensors="pt")`` -> input_ids,
    token_type_ids, attention_mask; [CLS] A [SEP] (B [SEP]) as BERT expects. ``decode`` skips the
    special tokens unless ``skip_special_tokens=False``."""

    model_input_names = ("input_ids", "token_type_ids", "attention_mask")
    pad_token, cls_token, sep_token, mask_token, unk_token = "[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"

    def __init__(self, backend: HFTokenizer, model_max_length: int = 512) -> None:
        super().__init__(backend)
        self.model_max_length = model_max_length
        self.backend.no_padding()
        self.backend.no_truncation()
        for token in self.all_special_tokens:
            if backend.token_to_id(token) is None:
                raise ValueError(f"the vocabulary has no {token} token; is this a BERT tokenizer?")

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
            try:
                wordpiece = BertWordPieceTokenizer(
                    str(directory / "vocab.txt"),
                    lowercase=config.get("do_lower_case", True),
                    strip_accents=config.get("strip_accents"),
                    handle_chinese_chars=config.get("tokenize_chinese_chars", True),
                )
                return cls(wordpiece._tokenizer, max_length)
            except Exception as e:  # tokenizers: a TypeError, or a bare Exception on bytes that are not UTF-8
                raise ValueError(
                    f"cannot read {directory / 'vocab.txt'}: {e}; it holds one token a line (UTF-8), "
                    "[PAD] [UNK] [CLS] [SEP] [MASK] among them"
                ) from None
        raise FileNotFoundError(f"no tokenizer.json or vocab.txt in {directory}")

    def decode(self, token_ids, skip_special_tokens: bool = True) -> str:
        return super().decode(token_ids, skip_special_tokens)

    def save_pretrained(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_write(directory / "tokenizer.json", "w") as f:
            f.write(self.backend.to_str())
        with atomic_write(directory / "tokenizer_config.json", "w") as f:
            json.dump({"tokenizer_class": "BertTokenizer", "model_max_length": self.model_max_length}, f)
        return directory


def load_tokenizer(directory: str | Path) -> BertTokenizer:
    """The tokenizer of a BERT directory (Hugging Face's or ours)."""
    return BertTokenizer.from_pretrained(directory)
