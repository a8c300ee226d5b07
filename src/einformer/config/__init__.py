"""Model configurations: one frozen dataclass per model family, one file each.

A config holds every number that decides a model's shape and computation, validates them in
``__post_init__`` (a ``ValueError`` names the field and why), and round-trips through
config.json. Models read configs; the blocks in ``einformer.nn`` never do.
"""

from ..validation import ACTIVATION_NAMES, check  # noqa: F401  (part of config's interface)
from .base import BaseConfig
from .bert import PROBLEM_TYPES, BertConfig
from .deberta_v2 import DebertaV2Config
from .distilbert import DistilBertConfig
from .electra import ElectraConfig
from .encoder_decoder import EncoderDecoderConfig
from .gpt import GPTConfig
from .llama import LlamaConfig
from .roberta import RobertaConfig, XLMRobertaConfig
from .transformer_xl import TransformerXLConfig
from .universal import UniversalTransformerConfig

__all__ = [
    "ACTIVATION_NAMES",
    "PROBLEM_TYPES",
    "BaseConfig",
    "BertConfig",
    "DebertaV2Config",
    "DistilBertConfig",
    "ElectraConfig",
    "EncoderDecoderConfig",
    "GPTConfig",
    "LlamaConfig",
    "RobertaConfig",
    "TransformerXLConfig",
    "UniversalTransformerConfig",
    "XLMRobertaConfig",
    "check",
]
