"""einformer: the Transformer, understood and used.

Public API re-exports only; see README.md for a tour.
"""

__version__ = "0.1.0"

from .checkpoint import CheckpointError  # noqa: E402
from .config import BaseConfig, EncoderDecoderConfig, GPTConfig  # noqa: E402
from .models import GPT, EncoderDecoderTransformer, PreTrainedModel  # noqa: E402

__all__ = [
    "BaseConfig",
    "CheckpointError",
    "EncoderDecoderConfig",
    "EncoderDecoderTransformer",
    "GPT",
    "GPTConfig",
    "PreTrainedModel",
    "__version__",
]
