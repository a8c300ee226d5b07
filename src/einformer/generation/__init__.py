"""Generation: decoding loops, logits processors, stopping criteria and streaming, shared by every
einformer model that generates."""

from .config import GenerationConfig
from .generate import GenerateOutput, GenerationMixin
from .kinds import CausalLM, MemoryLM, Seq2SeqLM, kind_of
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
    "kind_of",
    "BadWords",
    "CallbackStreamer",
    "CausalLM",
    "GenerationConfig",
    "GenerateOutput",
    "GenerationMixin",
    "MaxTime",
    "MemoryLM",
    "MinLength",
    "MinP",
    "NoRepeatNGram",
    "RepetitionPenalty",
    "Seq2SeqLM",
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
