"""RoBERTa's and XLM-RoBERTa's config: BERT's fields, with RoBERTa's defaults and position offset."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from .bert import BertConfig


@dataclasses.dataclass(frozen=True)
class RobertaConfig(BertConfig):
    """RoBERTa (Liu et al. 2019): BERT's encoder trained without next-sentence prediction, with byte-level
    BPE, one token type and positions that start past the padding row (``position_offset``).

    ``max_position`` counts usable positions: Hugging Face's ``max_position_embeddings`` (514 for
    roberta-base) less the ``pad_token_id + 1`` rows its table keeps before the first position."""

    model_type: ClassVar[str] = "roberta"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "base": dict(vocab_size=50265, d_model=768, n_layers=12, n_heads=12, d_ff=3072),
        "tiny": dict(vocab_size=99, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_position=64),
    }

    vocab_size: int = 50265
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 1

    @property
    def position_offset(self) -> int:
        """Position p reads row pad_token_id + 1 + p; padding tokens read row pad_token_id."""
        return self.pad_token_id + 1


@dataclasses.dataclass(frozen=True)
class XLMRobertaConfig(RobertaConfig):
    """XLM-RoBERTa (Conneau et al. 2020): RoBERTa's architecture over 100 languages, with a
    sentencepiece-unigram vocabulary of 250,002 pieces."""

    model_type: ClassVar[str] = "xlm-roberta"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "base": dict(vocab_size=250002, d_model=768, n_layers=12, n_heads=12, d_ff=3072),
        "tiny": dict(vocab_size=99, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_position=64),
    }

    vocab_size: int = 250002
