"""DeBERTa-v2's config (which serves DeBERTa-v3): BERT's fields and the disentangled attention's."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from ..validation import check, check_activation, check_probabilities
from .bert import BertConfig

POSITION_TERMS = ("c2p", "p2c")


@dataclasses.dataclass(frozen=True)
class DebertaV2Config(BertConfig):
    """DeBERTa (He et al. 2021): BERT's post-norm encoder whose attention adds, to the content-to-content
    score, content-to-position (``c2p``) and position-to-content (``p2c``) terms read from one table of
    relative-position embeddings shared by every layer (``nn/disentangled.py``).

    Fields beyond BERT's (Hugging Face's names in brackets):
        relative_attention: the position terms at all.
        pos_att_type: which of them ("c2p", "p2c").
        position_buckets: relative distances beyond ``position_buckets / 2`` share log-sized buckets
            (0: every distance up to ``max_relative_positions`` its own row).
        max_relative_positions: the largest distance the buckets cover (-1: ``max_position``).
        share_att_key: the position terms project the table with the content's query and key maps.
        norm_rel_embeddings: a LayerNorm over the table [norm_rel_ebd="layer_norm"].
        position_biased_input: absolute position embeddings added to the input (DeBERTa-v3: none).
        embedding_size: the embeddings' width, projected to d_model without bias (None: d_model).
        pooler_activation, pooler_dropout: of the classification head's dense layer [pooler_hidden_act].
    """

    model_type: ClassVar[str] = "deberta-v2"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "v3-base": dict(vocab_size=128100, d_model=768, n_layers=12, n_heads=12, d_ff=3072),
        "tiny": dict(vocab_size=99, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_position=64, position_buckets=8),
    }

    vocab_size: int = 128100
    type_vocab_size: int = 0
    layer_norm_eps: float = 1e-7
    relative_attention: bool = True
    pos_att_type: tuple[str, ...] = ("p2c", "c2p")
    position_buckets: int = 256
    max_relative_positions: int = -1
    share_att_key: bool = True
    norm_rel_embeddings: bool = True
    position_biased_input: bool = False
    embedding_size: int | None = None
    pooler_activation: str = "gelu"
    pooler_dropout: float = 0.0

    @property
    def d_embed(self) -> int:
        return self.embedding_size or self.d_model

    @property
    def relative_span(self) -> int:
        """Rows on each side of distance 0 in the relative table (the table has twice as many)."""
        return self.position_buckets if self.position_buckets > 0 else self.max_distance

    @property
    def max_distance(self) -> int:
        return self.max_relative_positions if self.max_relative_positions > 0 else self.max_position

    def validate(self) -> None:
        super().validate()
        unknown = sorted(set(self.pos_att_type) - set(POSITION_TERMS))
        check(not unknown, "pos_att_type", f"unknown term(s) {unknown}; choose among {POSITION_TERMS}")
        check(self.position_buckets >= 0, "position_buckets", f"must be >= 0, got {self.position_buckets}")
        check(
            self.embedding_size is None or self.embedding_size >= 1,
            "embedding_size",
            f"must be >= 1 or None, got {self.embedding_size}",
        )
        check_activation(self.pooler_activation)
        check_probabilities(self, "pooler_dropout")
