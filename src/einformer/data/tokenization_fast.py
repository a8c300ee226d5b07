"""The tokenizers whose rules are a Hugging Face ``tokenizers.Tokenizer``: einformer's own, BERT's, GPT-2's.

As transformers' ``PreTrainedTokenizerFast`` (tokenization_utils_fast.py) does, encoding, truncation
and decoding are the backend's own, so the ids and the text equal transformers' on the same
tokenizer.json; the interface around them is ``PreTrainedTokenizer`` (tokenization.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch
from tokenizers import Tokenizer as HFTokenizer

from . import chunks
from .tokenization import PreTrainedTokenizer


class PreTrainedTokenizerFast(PreTrainedTokenizer):
    """A tokenizer whose rules are a Hugging Face ``tokenizers.Tokenizer`` (``backend``): encoding,
    truncation and decoding are the backend's, as in transformers' ``PreTrainedTokenizerFast``."""

    def __init__(self, backend: HFTokenizer) -> None:
        self.backend = backend

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size()

    def get_vocab(self) -> dict[str, int]:
        return self.backend.get_vocab()

    def _convert_token_to_id(self, token: str) -> int | None:
        return self.backend.token_to_id(token)

    def _convert_id_to_token(self, index: int) -> str | None:
        return self.backend.id_to_token(index)

    def _decode(self, ids: list[int], skip_special_tokens: bool) -> str:
        return self.backend.decode(ids, skip_special_tokens=skip_special_tokens)

    def encode(self, text, text_pair=None, add_special_tokens=True, *, truncation=False, max_length=None) -> list[int]:
        """Text (and pair) -> ids: one backend call (``__call__``'s rows without the batch around them)."""
        if not isinstance(text, str) or (text_pair is not None and not isinstance(text_pair, str)):
            raise TypeError("encode takes one text (and one pair); call the tokenizer on a list of texts")
        with self._truncating(self._truncation_length(truncation, max_length)):
            return self.backend.encode(text, text_pair, add_special_tokens=add_special_tokens).ids

    def _encode_rows(self, texts, pairs, *, add_special_tokens, max_length):
        inputs = texts if pairs is None else list(zip(texts, pairs, strict=True))
        with self._truncating(max_length):
            if len(texts) == 1:  # one text: skip the batch's thread pool
                pair = None if pairs is None else pairs[0]
                encodings = [self.backend.encode(texts[0], pair, add_special_tokens=add_special_tokens)]
            else:
                encodings = self.backend.encode_batch(inputs, add_special_tokens=add_special_tokens)
        return [{"input_ids": e.ids, "token_type_ids": e.type_ids} for e in encodings]

    @contextlib.contextmanager
    def _truncating(self, max_length: int | None) -> Iterator[None]:
        """The backend truncating (longest first, special tokens counted) for one call, then restored."""
        if max_length is None:
            yield
            return
        saved = self.backend.truncation
        self.backend.enable_truncation(max_length, strategy="longest_first")
        try:
            yield
        finally:
            if saved is None:
                self.backend.no_truncation()
            else:
                self.backend.enable_truncation(**saved)

    def encode_array(self, text: str, *, chunk: int = 1 << 16, dtype: torch.dtype = torch.int32) -> torch.Tensor:
        """(N,) ids (int32, or ``dtype``) of a long text, ``chunk`` characters at a time (``encode_array``)."""
        return encode_array(self.backend, text, chunk=chunk, dtype=dtype)


def read_tokenizer_file(path: str | Path) -> HFTokenizer:
    """A tokenizer.json through ``tokenizers``; a malformed file is a ValueError naming it."""
    try:
        return HFTokenizer.from_file(str(path))
    except Exception as e:  # the Rust side raises a bare Exception on a malformed file
        raise ValueError(f"cannot read tokenizer {path}: {e}; re-save the tokenizer") from None


def encode_array(
    backend: HFTokenizer, text: str, *, chunk: int = 1 << 16, dtype: torch.dtype = torch.int32
) -> torch.Tensor:
    """(N,) int32 (or ``dtype``) ids of a long text, encoded ``chunk`` characters at a time, cut only
    where the tokenizer cannot merge across, so the ids equal one call's (``einformer.data.chunks``)."""
    return chunks.encode_array(backend, text, chunk=chunk, dtype=dtype)
