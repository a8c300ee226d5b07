"""GPT's config."""

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


@dataclasses.dataclass(frozen=True)
class GPTConfig(BaseConfig):
    """A decoder-only language model; the defaults are GPT-2's architecture (Radford et al. 2019).

    GPT-2 is pre-norm (``norm_first=True``) with a final LayerNorm, learned positions, gelu_tanh
    ("gelu_new") and input/output embeddings tied. ``norm_first=False`` gives the post-norm
    ordering of the original GPT.
    """

    model_type: ClassVar[str] = "gpt"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "gpt2": dict(vocab_size=50257, max_position=1024, d_model=768, n_layers=12, n_heads=12),
        "small": dict(
            vocab_size=8192, max_position=256, d_model=384, n_layers=6, n_heads=6, bos_token_id=None, eos_token_id=None
        ),
        "tiny": dict(
            vocab_size=99, max_position=64, d_model=32, n_layers=2, n_heads=4, bos_token_id=None, eos_token_id=None
        ),
    }

    vocab_size: int = 50257
    max_position: int = 1024
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_ff: int | None = None  # default 4 * d_model (GPT-2's n_inner)
    activation: str = "gelu_tanh"
    dropout: float = 0.1  # residual dropout (resid_pdrop)
    embedding_dropout: float = 0.1  # embd_pdrop
    attention_dropout: float = 0.1  # attn_pdrop
    layer_norm_eps: float = 1e-5
    norm_first: bool = True
    tie_word_embeddings: bool = True
    bias: bool = True
    bos_token_id: int | None = 50256
    eos_token_id: int | None = 50256
    pad_token_id: int | None = None

    def validate(self) -> None:
        if self.d_ff is None:  # GPT-2's n_inner = null: four times the width
            object.__setattr__(self, "d_ff", 4 * self.d_model)
        check(self.vocab_size > 0, "vocab_size", f"must be positive, got {self.vocab_size}")
        check_heads(self.d_model, self.n_heads)
        check_positive(self, "n_layers", "max_position", "d_ff")
        check_activation(self.activation)
        check_probabilities(self, "dropout", "embedding_dropout", "attention_dropout")
        check_token_ids(self, self.vocab_size, "bos_token_id", "eos_token_id", "pad_token_id")
