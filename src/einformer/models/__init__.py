"""einformer's models, one architecture per file, each read top-down (Model -> Block -> pieces)."""

from .base import PreTrainedModel
from .encoder_decoder import EncoderDecoderTransformer
from .gpt import GPT

__all__ = ["GPT", "EncoderDecoderTransformer", "PreTrainedModel"]
