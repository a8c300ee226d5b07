"""A long text cut into pieces that a tokenizer encodes (or counts, to train) to the same ids as the
whole text, so memory stays bounded by the piece, never by the file.

A cut at position p is safe when nothing the tokenizer does crosses it: the normalizer and the
pre-tokenizer give the same pieces for the text around p as for its two sides apart (checked on a
window of ``WINDOW`` characters each side, with the tokenizer's own ``normalize_str`` and
``pre_tokenize_str``), and no added token ([EOS], <|endoftext|> ...) spans p. The model (BPE,
WordPiece, WordLevel) only merges inside one pre-token, so the ids then equal one call's. Cuts are
looked for just before the chunk's end: first before white space that ends a word (where byte-level
BPE, WordPiece, word and Metaspace tokenizers split), then where the kind of character changes, then
anywhere (a character tokenizer: a line without spaces is cut too). A text with no safe cut at all (a
tokenizer without pre-tokenizer, or a normalizer that prepends to every input) is encoded whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from tokenizers import Tokenizer as HFTokenizer

CHUNK = 1 << 16  # characters per tokenizer call
WINDOW = 64  # characters each side of a cut that the check reads
SEARCH = 4096  # characters before the chunk's end searched for a cut
TRIES = 12  # cuts checked per kind of candidate


def spans(backend: HFTokenizer | Cutter, text: str, chunk: int = CHUNK) -> Iterator[tuple[int, int]]:
    """(start, end) pieces covering ``text`` in order, each about ``chunk`` characters, cut only where
    the tokenizer cannot merge across."""
    cutter, start, n = backend if isinstance(backend, Cutter) else Cutter(backend), 0, len(text)
    while start < n:
        end = min(n, start + max(1, chunk))
        while end < n:
            cut = cutter.find(text, start, end, chunk)
            if cut is not None:
                end = cut
                break
            end = min(n, end + max(1, chunk))  # no safe cut here: a longer piece
        yield start, end
        start = end


def pieces(texts: Iterable[str], backend: HFTokenizer, chunk: int = CHUNK) -> Iterator[str]:
    """The pieces (``spans``) of each of ``texts``: what a tokenizer trainer may count instead of the
    whole texts. The tokenizer's parts are read here, before the trainer locks it."""
    cutter = Cutter(backend)
    return (text[start:end] for text in texts for start, end in spans(cutter, text, chunk))


def encode_array(
    backend: HFTokenizer, text: str, *, chunk: int = CHUNK, dtype: torch.dtype = torch.int32
) -> torch.Tensor:
    """(N,) ids of a long text, encoded piece by piece (``spans``) into one preallocated array.

    The array is sized by an upper bound (UTF-8 bytes plus one per piece: byte-level and character
    tokenizers give at most that many ids), allocated untouched, so only the pages the ids fill take
    memory; a tokenizer that gives more falls back to joining the pieces.
    """
    bounds = list(spans(backend, text, chunk))
    size = (len(text) if text.isascii() else sum(len(text[a:b].encode()) for a, b in bounds)) + len(bounds)
    out, n, extra = torch.empty(size, dtype=dtype), 0, []
    for start, end in bounds:
        ids = torch.tensor(backend.encode(text[start:end], add_special_tokens=False).ids, dtype=dtype)
        if extra or n + len(ids) > size:
            extra.append(ids)
        else:
            out[n : n + len(ids)] = ids
            n += len(ids)
    return torch.cat([out[:n], *extra]) if extra else out[:n]


class Cutter:
    """Finds safe cuts for one tokenizer (its normalizer, pre-tokenizer and added tokens)."""

    def __init__(self, backend: HFTokenizer) -> None:
        self.normalizer, self.pre = backend.normalizer, backend.pre_tokenizer
        added = backend.get_added_tokens_decoder().values()
        self.added = [t.content for t in added if len(t.content) > 1]

    def find(self, text: str, start: int, end: int, chunk: int) -> int | None:
        """A safe cut in (start, end], the latest found, or None."""
        low = max(start + 1, end - min(SEARCH, max(1, chunk // 2)))
        for candidate in (_word_end, _kind_change, _anywhere):
            tries = 0
            for p in range(end, low - 1, -1):
                if candidate(text, p):
                    if self.safe(text, p):
                        return p
                    tries += 1
                    if tries == TRIES:
                        break
        return None

    def safe(self, text: str, p: int) -> bool:
        left, right = text[max(0, p - WINDOW) : p], text[p : p + WINDOW]
        if any(_spans_cut(text, p, token) for token in self.added):
            return False
        return self._split(left + right) == self._split(left) + self._split(right)

    def _split(self, text: str) -> list[str]:
        if self.normalizer is not None:
            text = self.normalizer.normalize_str(text)
        if self.pre is None:
            return [text]  # no pre-tokenizer: the model may merge across anything
        return [piece for piece, _ in self.pre.pre_tokenize_str(text)]


def _spans_cut(text: str, p: int, token: str) -> bool:
    """Does an occurrence of ``token`` start before p and end after it?"""
    window = text[max(0, p - len(token) + 1) : p + len(token) - 1]
    offset, i = max(0, p - len(token) + 1), window.find(token)
    while i != -1:
        if offset + i < p < offset + i + len(token):
            return True
        i = window.find(token, i + 1)
    return False


def _kind(c: str) -> int:
    return 0 if c.isspace() else 1 if c.isalnum() else 2


def _word_end(text: str, p: int) -> bool:
    return text[p].isspace() and not text[p - 1].isspace()


def _kind_change(text: str, p: int) -> bool:
    return _kind(text[p]) != _kind(text[p - 1])


def _anywhere(text: str, p: int) -> bool:
    return True
