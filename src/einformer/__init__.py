"""einformer: the Transformer, understood and used.

Public API re-exports only; see README.md for a tour.
"""

from .auto import AutoModel, Loaded, load  # noqa: E402
from .checkpoint import CheckpointError  # noqa: E402
from .config import (  # noqa: E402
    BaseConfig,
    BertConfig,
    EncoderDecoderConfig,
    GPTConfig,
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
    PreTrainedModel,
    TransformerXL,
    UniversalTransformer,
)
from .pipelines import pipeline  # noqa: E402
from .recipes.embeddings import embed  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = [
    "AutoModel",
    "Loaded",
    "load",
    "pipeline",
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
    "PreTrainedModel",
    "TransformerXL",
    "TransformerXLConfig",
    "UniversalTransformer",
    "UniversalTransformerConfig",
    "__version__",
]
