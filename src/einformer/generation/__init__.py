"""Generation: decoding loops, logits processors, stopping criteria and streaming, shared by every
einformer model that generates."""

from .generate import GenerateOutput, GenerationMixin
from .processors import (
    BadWords,
    MinLength,
    MinP,
    NoRepeatNGram,
    RepetitionPenalty,
    SuppressTokens,
    Temperature,
    TopK,
    TopP,
    Typical,
)
from .search import beam_search, decode_steps, greedy_search
from .stopping import MaxTime, StopStrings
from .streaming import CallbackStreamer, TextStream, stream_text

__all__ = [
    "BadWords",
    "CallbackStreamer",
    "GenerateOutput",
    "GenerationMixin",
    "MaxTime",
    "MinLength",
    "MinP",
    "NoRepeatNGram",
    "RepetitionPenalty",
    "StopStrings",
    "SuppressTokens",
    "Temperature",
    "TextStream",
    "TopK",
    "TopP",
    "Typical",
    "beam_search",
    "decode_steps",
    "greedy_search",
    "stream_text",
]
