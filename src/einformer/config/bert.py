"""BERT's config."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from ..validation import (
    check,
    check_activation,
    check_heads,
    check_positive,
    check_probabilities,
    check_token_ids,
)
from .base import BaseConfig

PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")


@dataclasses.dataclass(frozen=True)
class BertConfig(BaseConfig):
    """BERT (Devlin et al. 2019): a post-norm Transformer encoder with word, position and segment
    (token-type) embeddings, a pooler over [CLS], and task heads. Field names are einformer's;
    ``einformer.interop.bert`` maps Hugging Face's (hidden_size -> d_model, ...)."""

    model_type: ClassVar[str] = "bert"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "base": dict(vocab_size=30522, d_model=768, n_layers=12, n_heads=12, d_ff=3072),
        "minilm": dict(vocab_size=30522, d_model=384, n_layers=6, n_heads=12, d_ff=1536),
        "small": dict(vocab_size=8192, d_model=256, n_layers=4, n_heads=4, d_ff=1024, max_position=256),
        "tiny": dict(vocab_size=99, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_position=64),
    }

    vocab_size: int = 30522
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_ff: int = 3072
    activation: str = "gelu"
    dropout: float = 0.1  # hidden_dropout_prob
    attention_dropout: float = 0.1  # attention_probs_dropout_prob
    max_position: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    num_labels: int = 2
    problem_type: str | None = None  # as Hugging Face: chosen from num_labels and the labels' dtype when None
    classifier_dropout: float | None = None  # default: dropout
    label_names: tuple[str, ...] | None = None  # the class of each label id (Hugging Face's id2label)

    @property
    def d_embed(self) -> int:
        """Width of the token, position and type embeddings (ELECTRA's ``embedding_size``; BERT: d_model)."""
        return self.d_model

    @property
    def position_offset(self) -> int | None:
        """None: positions 0..T-1 (BERT). An int (RoBERTa: pad_token_id + 1): positions are counted over
        the non-padding tokens and read row ``offset + p`` of the table, padding reads row pad_token_id."""
        return None

    @property
    def id2label(self) -> dict[int, str]:
        """Hugging Face's view of ``label_names``: LABEL_i where a run names none."""
        names = self.label_names or tuple(f"LABEL_{i}" for i in range(self.num_labels))
        return dict(enumerate(names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in self.id2label.items()}

    def validate(self) -> None:
        check(self.vocab_size > 0, "vocab_size", f"must be positive, got {self.vocab_size}")
        check_heads(self.d_model, self.n_heads)
        check_positive(self, "n_layers", "d_ff", "max_position", "num_labels")
        check(
            self.type_vocab_size >= 0,
            "type_vocab_size",
            f"must be >= 0 (0: no token types), got {self.type_vocab_size}",
        )
        check_activation(self.activation)
        check(self.problem_type in PROBLEM_TYPES, "problem_type", f"{self.problem_type!r} is not in {PROBLEM_TYPES}")
        check_probabilities(self, "dropout", "attention_dropout", "classifier_dropout")
        check_token_ids(self, self.vocab_size, "pad_token_id")
        if self.label_names is not None:
            check(
                len(self.label_names) == self.num_labels and len(set(self.label_names)) == self.num_labels,
                "label_names",
                f"needs {self.num_labels} distinct names (num_labels), got {list(self.label_names)}",
            )
