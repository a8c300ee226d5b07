"""The Universal Transformer's config."""

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
class UniversalTransformerConfig(BaseConfig):
    """The Universal Transformer (Dehghani et al. 2019): one encoder layer and one decoder layer,
    each applied recurrently with position and timestep signals added before every step.

    ``act=False`` applies each shared layer exactly ``max_steps`` times; ``act=True`` lets every
    position halt on its own (Adaptive Computation Time, Graves 2016) after at most ``max_steps``,
    and adds ``ponder_weight`` (Graves' tau) times the ponder cost to the loss. ``act_mode="graves"``
    outputs the halting-weighted mean of the step states; ``"ut"`` is the UT paper's interpolation
    (see ``einformer.nn.act``).
    """

    model_type: ClassVar[str] = "universal-transformer"
    renamed: ClassVar[dict[str, str]] = {"tie_output": "tie_word_embeddings"}
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "small": dict(d_model=128, n_heads=4, d_ff=512, max_steps=6, dropout=0.1),
        "tiny": dict(d_model=32, n_heads=4, d_ff=64, max_steps=4, dropout=0.0),
    }

    src_vocab_size: int = 32000
    tgt_vocab_size: int = 32000
    d_model: int = 128
    n_heads: int = 4
    d_ff: int = 512
    max_steps: int = 6  # the fixed depth without ACT; the cap with ACT
    act: bool = True
    act_mode: str = "graves"
    act_epsilon: float = 0.01
    act_init_bias: float = 1.0
    ponder_weight: float = 0.01  # Graves' time penalty tau
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation: str = "relu"
    norm_first: bool = False  # the UT paper is post-norm
    max_position: int = 1024
    tie_word_embeddings: bool = True  # the output projection reuses the target embedding
    label_smoothing: float = 0.0
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 0
    bos_token_id: int = 1
    eos_token_id: int = 2

    def validate(self) -> None:
        check_heads(self.d_model, self.n_heads)
        check(self.d_model % 2 == 0, "d_model", f"must be even for the sinusoidal signals, got {self.d_model}")
        check_positive(self, "max_steps", "d_ff", "max_position")
        check(self.src_vocab_size > 4 and self.tgt_vocab_size > 4, "src_vocab_size", "vocabularies need > 4 ids")
        check(self.act_mode in ("graves", "ut"), "act_mode", f"must be 'graves' or 'ut', got {self.act_mode!r}")
        check(0.0 < self.act_epsilon < 1.0, "act_epsilon", f"must be in (0, 1), got {self.act_epsilon}")
        check(self.ponder_weight >= 0.0, "ponder_weight", f"must be >= 0, got {self.ponder_weight}")
        check_activation(self.activation)
        check_probabilities(self, "dropout", "attention_dropout", "label_smoothing")
        check_token_ids(self, self.tgt_vocab_size, "pad_token_id", "bos_token_id", "eos_token_id")
