"""Streaming: text pieces as tokens arrive.

``TextStream`` turns a stream of token ids into a stream of text: it decodes everything so far and
emits the new suffix, holding back a piece that ends in an incomplete character (byte-level BPE
can split one character across tokens), so what it prints never has to be taken back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator


class TextStream:
    """Incremental detokenizer for one sequence."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer, self.ids, self.emitted = tokenizer, [], ""

    def push(self, token_id: int) -> str:
        """Add a token; return the text that became final (maybe empty)."""
        self.ids.append(int(token_id))
        text = self.tokenizer.decode(self.ids)
        if text.endswith("\ufffd"):  # an incomplete character: wait for the next token
            return ""
        piece, self.emitted = text[len(self.emitted) :], text
        return piece

    def end(self) -> str:
        """What is left when the sequence is over, an incomplete character included (as decode gives it)."""
        text = self.tokenizer.decode(self.ids)
        piece, self.emitted = text[len(self.emitted) :], text
        return piece


def stream_text(tokens: Iterable[int], tokenizer) -> Iterator[str]:
    """Text pieces for an iterable of token ids."""
    stream = TextStream(tokenizer)
    for token in tokens:
        piece = stream.push(token)
        if piece:
            yield piece
    tail = stream.end()
    if tail:
        yield tail


class CallbackStreamer:
    """Hugging Face's streamer protocol (``put(tokens)``, ``end()``) calling ``on_text(piece)`` for row 0."""

    def __init__(self, tokenizer, on_text: Callable[[str], None]) -> None:
        self.stream, self.on_text = TextStream(tokenizer), on_text

    def put(self, tokens) -> None:
        piece = self.stream.push(int(tokens.reshape(-1)[0]))
        if piece:
            self.on_text(piece)

    def end(self) -> None:
        self.on_text("\n")
