"""einformer: the Transformer, understood and used.

Public API re-exports only; see README.md for a tour.
"""

from . import families  # noqa: E402, F401  (registers the built-in model families)
from .auto import AutoModel, AutoTokenizer, Loaded, load  # noqa: E402
from .checkpoint import CheckpointError  # noqa: E402
from .config import (  # noqa: E402
    BaseConfig,
    BertConfig,
    EncoderDecoderConfig,
    GPTConfig,
    LlamaConfig,
    TransformerXLConfig,
    UniversalTransformerConfig,
)
from .data.bert_tokenizer import load_tokenizer  # noqa: E402
from .models import (  # noqa: E402
    GPT,
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    EncoderDecoderTransformer,
    Llama,
    PreTrainedModel,
    TransformerXL,
    UniversalTransformer,
)
from .pipelines import embed, pipeline  # noqa: E402
from .quantization import quantize  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = [
    "AutoModel",
    "AutoTokenizer",
    "Loaded",
    "load",
    "pipeline",
    "quantize",
    "BaseConfig",
    "BertConfig",
    "BertForMaskedLM",
    "BertForMultipleChoice",
    "BertForPreTraining",
    "BertForQuestionAnswering",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertModel",
    "embed",
    "load_tokenizer",
    "CheckpointError",
    "EncoderDecoderConfig",
    "EncoderDecoderTransformer",
    "GPT",
    "GPTConfig",
    "Llama",
    "LlamaConfig",
    "PreTrainedModel",
    "TransformerXL",
    "TransformerXLConfig",
    "UniversalTransformer",
    "UniversalTransformerConfig",
    "__version__",
]
