"""ELECTRA's config: BERT's fields, the embedding width and the multiple-choice head's dropout."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from ..validation import check_positive, check_probabilities
from .bert import BertConfig


@dataclasses.dataclass(frozen=True)
class ElectraConfig(BertConfig):
    """ELECTRA (Clark et al. 2020): BERT's encoder trained as a discriminator (which tokens did a small
    generator replace?). Its embeddings may be narrower than the encoder (``embedding_size`` < d_model,
    e.g. 128 for ELECTRA-small's 256): a linear projection then maps them to d_model. No pooler."""

    model_type: ClassVar[str] = "electra"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "small": dict(vocab_size=30522, d_model=256, n_layers=12, n_heads=4, d_ff=1024, embedding_size=128),
        "base": dict(vocab_size=30522, d_model=768, n_layers=12, n_heads=12, d_ff=3072, embedding_size=768),
        "tiny": dict(vocab_size=99, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_position=64, embedding_size=16),
    }

    d_model: int = 256
    n_heads: int = 4
    d_ff: int = 1024
    embedding_size: int = 128
    summary_last_dropout: float = 0.1  # the multiple-choice head's dropout (Hugging Face's name and default)

    @property
    def d_embed(self) -> int:
        return self.embedding_size

    def validate(self) -> None:
        super().validate()
        check_positive(self, "embedding_size")
        check_probabilities(self, "summary_last_dropout")
