"""einformer's models, one architecture per file, each read top-down (Model -> Block -> pieces)."""

from .base import PreTrainedModel

__all__ = ["PreTrainedModel"]
