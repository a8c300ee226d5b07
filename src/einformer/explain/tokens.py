"""Readable token labels for the attention views, with the raw pieces kept for tooltips.

A byte-level BPE (GPT-2, Llama 3, Qwen) stores each piece as printable stand-ins for bytes: a
space is ``Ġ``, a newline ``Ċ``, and a Chinese character is two or three pieces of UTF-8 bytes
(``æĺ``, ``¥``). The label of a piece is the text of its bytes, read through the tokenizer's own
byte table; a piece holding part of a character shows that character and which part it is
(``春 (1/2)``). Sentencepiece-style pieces (``▁word``, byte fallback ``<0xE6>``) are read the same
way, whether a ``tokenizers`` backend holds them (Llama, T5) or a sentencepiece model does (Marian's
``MarianTokenizer``: its pieces, ``▁Hund``, are looked up as the tokenizer converts ids, and its special
tokens, ``</s>``, stay as they are). Whitespace a reader could not see is drawn: ``↵`` a newline, ``⇥``
a tab, ``␣`` a piece of spaces only. WordPiece, character and word tokenizers' pieces are already text
and stay as they are, as do added and special tokens (``<|endoftext|>``, ``[CLS]``).
"""

from __future__ import annotations

import json
import re

VISIBLE = {"\n": "↵", "\t": "⇥", "\r": "␍"}
BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def byte_table() -> dict[str, int]:
    """The byte-level BPE alphabet: printable character -> byte (printable bytes stand for themselves,
    the other 68 are shifted past 255 in order), as GPT-2's encoder defines it."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, shifted = {}, 0
    for byte in range(256):
        if byte in printable:
            table[chr(byte)] = byte
        else:
            table[chr(256 + shifted)] = byte
            shifted += 1
    return table


def _decoder_kinds(backend) -> set[str]:
    """The types in the backend's decoder (a Sequence is opened), from its own JSON."""
    decoder = json.loads(backend.to_str()).get("decoder") or {}
    found = [decoder, *decoder.get("decoders", [])]
    return {d.get("type") for d in found if isinstance(d, dict)}


def _piece_bytes(pieces: list[str], kinds: set[str], specials: set[int], ids: list[int]) -> list[bytes | None]:
    """Each piece's bytes, or None where the piece is shown as it is (special, or not byte-coded)."""
    table = byte_table() if "ByteLevel" in kinds else None
    sentencepiece = bool(kinds & {"Metaspace", "ByteFallback"})
    out: list[bytes | None] = []
    for piece, i in zip(pieces, ids, strict=True):
        if i in specials or piece is None:
            out.append(None)
        elif table is not None:
            out.append(bytes(table[c] for c in piece) if all(c in table for c in piece) else None)
        elif sentencepiece:
            fallback = BYTE_FALLBACK.fullmatch(piece)
            out.append(bytes([int(fallback.group(1), 16)]) if fallback else piece.replace("▁", " ").encode())
        else:
            out.append(None)
    return out


def _show(text: str) -> str:
    if text and not text.strip(" "):
        return "␣" * len(text)
    return "".join(VISIBLE.get(c, c) for c in text)


def _complete(chunks: list[bytes | None], i: int) -> tuple[int, str] | None:
    """The shortest run of chunks from ``i`` whose bytes are whole UTF-8 characters: (its end, its text)."""
    for end in range(i + 1, min(i + 4, len(chunks)) + 1):  # a character spans at most 4 bytes
        if chunks[end - 1] is None:
            return None
        try:
            return end, b"".join(chunks[i:end]).decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _utf8_labels(chunks: list[bytes | None]) -> list[str | None]:
    """Text per chunk; a chunk that is part of a character carries the character and its part."""
    labels: list[str | None] = [None] * len(chunks)
    i = 0
    while i < len(chunks):
        found = None if chunks[i] is None else _complete(chunks, i)
        if found is None:  # a special token, or bytes that never complete: shown as they are
            if chunks[i] is not None:
                labels[i] = chunks[i].decode("utf-8", errors="backslashreplace")
            i += 1
            continue
        end, text = found
        for k in range(i, end):
            labels[k] = _show(text) if end - i == 1 else f"{_show(text)} ({k - i + 1}/{end - i})"
        i = end
    return labels


def token_labels(tokenizer, ids: list[int]) -> tuple[list[str], list[str]]:
    """(readable labels, raw pieces) of ``ids`` under ``tokenizer`` (einformer's, or a
    ``tokenizers.Tokenizer``)."""
    backend = getattr(tokenizer, "backend", tokenizer)
    if not hasattr(backend, "to_str") and hasattr(tokenizer, "spm_target"):  # Marian: sentencepiece models
        return _sentencepiece_labels(tokenizer, ids)
    lookup = getattr(tokenizer, "id_to_token", None) or backend.id_to_token
    pieces = [lookup(i) for i in ids]
    if not hasattr(backend, "to_str"):  # not a Hugging Face tokenizers backend: pieces are what we have
        return list(pieces), pieces
    specials = set(backend.get_added_tokens_decoder())
    labels = _utf8_labels(_piece_bytes(pieces, _decoder_kinds(backend), specials, ids))
    return [label if label is not None else piece for label, piece in zip(labels, pieces, strict=True)], pieces


def _sentencepiece_labels(tokenizer, ids: list[int]) -> tuple[list[str], list[str]]:
    """(labels, pieces) under a tokenizer that reads a sentencepiece model itself (Marian's): its pieces
    through ``convert_ids_to_tokens``, read as sentencepiece pieces; its special tokens kept."""
    pieces = tokenizer.convert_ids_to_tokens(list(ids))
    specials = set(tokenizer.all_special_ids)
    labels = _utf8_labels(_piece_bytes(pieces, {"Metaspace"}, specials, ids))
    return [label if label is not None else piece for label, piece in zip(labels, pieces, strict=True)], pieces
