"""einformer's models, one architecture per file, each read top-down (Model -> Block -> pieces)."""

from .base import PreTrainedModel
from .encoder_decoder import EncoderDecoderTransformer

__all__ = ["EncoderDecoderTransformer", "PreTrainedModel"]
