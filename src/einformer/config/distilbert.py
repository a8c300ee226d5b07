"""DistilBERT's config: BERT's fields without token types, with its dropouts and position option."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from ..validation import check_probabilities
from .bert import BertConfig


@dataclasses.dataclass(frozen=True)
class DistilBertConfig(BertConfig):
    """DistilBERT (Sanh et al. 2019): a 6-layer BERT distilled from a 12-layer one; no token types
    (``type_vocab_size=0``) and no pooler.

    ``sinusoidal_positions``: the position table holds the paper's fixed sine/cosine encodings
    (interleaved, ``nn.embeddings.sinusoidal_table``) and is not trained, instead of learned rows
    (Hugging Face's ``sinusoidal_pos_embds``). ``seq_classif_dropout`` and ``qa_dropout`` are the
    dropouts of its sequence-classification and question-answering heads."""

    model_type: ClassVar[str] = "distilbert"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "base": dict(vocab_size=30522, d_model=768, n_layers=6, n_heads=12, d_ff=3072),
        "tiny": dict(vocab_size=99, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_position=64),
    }

    n_layers: int = 6
    type_vocab_size: int = 0
    sinusoidal_positions: bool = False
    seq_classif_dropout: float = 0.2
    qa_dropout: float = 0.1

    def validate(self) -> None:
        super().validate()
        check_probabilities(self, "seq_classif_dropout", "qa_dropout")
