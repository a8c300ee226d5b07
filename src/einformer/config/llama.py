"""The Llama family's config: Llama 2/3, Mistral, Qwen2 and Qwen3 as one architecture with named options."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from ..nn.rotary import ROPE_TYPES
from ..validation import check, check_positive, check_probabilities, check_token_ids
from .base import BaseConfig

LAYER_TYPES = ("full_attention", "sliding_attention")
VARIANTS = ("llama", "mistral", "qwen2", "qwen3")


@dataclasses.dataclass(frozen=True)
class LlamaConfig(BaseConfig):
    """A pre-norm decoder with RMSNorm, rotary positions, a SwiGLU feed-forward and grouped-query
    attention (Touvron et al. 2023), and what its relatives change, each a named option:

    * ``n_kv_heads`` < ``n_heads``: grouped-query attention (Ainslie et al. 2023);
    * ``head_dim``: a head width other than d_model / n_heads (Qwen3);
    * ``attention_bias``: biases on q, k, v and the output (Llama's option); ``qkv_bias``: on q, k
      and v only (Qwen2);
    * ``qk_norm``: an RMSNorm over each head's queries and keys before the rotation (Qwen3);
    * ``sliding_window`` with ``layer_types``: a layer of type "sliding_attention" attends to the last
      ``sliding_window`` positions only (Mistral: every layer);
    * ``rope_theta``, ``rope_type`` and ``rope_scaling``: the rotary frequencies and their scaling
      variant (``einformer.nn.rotary``); ``partial_rotary_factor``: rotate part of each head;
    * ``tie_word_embeddings``: the output projection shares the input embeddings.

    ``variant`` records which Hugging Face ``model_type`` the checkpoint came from (and an export
    writes); it changes nothing in the computation.
    """

    model_type: ClassVar[str] = "llama"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": dict(vocab_size=99, max_position=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64),
        "small": dict(vocab_size=8192, max_position=256, d_model=384, n_layers=6, n_heads=6, n_kv_heads=2, d_ff=1024),
    }

    vocab_size: int = 32000
    max_position: int = 2048
    d_model: int = 4096
    n_layers: int = 32
    n_heads: int = 32
    n_kv_heads: int | None = None  # default n_heads (multi-head attention)
    head_dim: int | None = None  # default d_model // n_heads
    d_ff: int = 11008
    activation: str = "swiglu"
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_type: str = "default"
    rope_scaling: dict | None = None  # the variant's fields, transformers' names (factor, ...)
    partial_rotary_factor: float = 1.0
    attention_bias: bool = False
    qkv_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False
    sliding_window: int | None = None
    layer_types: tuple[str, ...] | None = None  # per layer "full_attention" or "sliding_attention"
    attention_dropout: float = 0.0
    dropout: float = 0.0  # on each sub-layer's output while training (the Llama papers: none)
    tie_word_embeddings: bool = False
    bos_token_id: int | None = None
    eos_token_id: int | tuple[int, ...] | None = None
    pad_token_id: int | None = None
    variant: str = "llama"

    def validate(self) -> None:
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        if self.head_dim is None:
            check(self.d_model % self.n_heads == 0, "n_heads", f"{self.n_heads} does not divide d_model={self.d_model}")
            object.__setattr__(self, "head_dim", self.d_model // self.n_heads)
        if self.sliding_window is not None and self.layer_types is None:
            object.__setattr__(self, "layer_types", ("sliding_attention",) * self.n_layers)
        check_positive(self, "vocab_size", "max_position", "d_model", "n_layers", "n_heads", "d_ff", "head_dim")
        check(self.n_heads % self.n_kv_heads == 0, "n_kv_heads", f"{self.n_kv_heads} must divide n_heads")
        check(self.activation == "swiglu", "activation", f"the Llama family uses swiglu, got {self.activation!r}")
        check(self.rope_type in ROPE_TYPES, "rope_type", f"{self.rope_type!r} is not one of {ROPE_TYPES}")
        check(self.rms_norm_eps > 0, "rms_norm_eps", f"must be > 0, got {self.rms_norm_eps}")
        check(self.rope_theta > 0, "rope_theta", f"must be > 0, got {self.rope_theta}")
        check(0 < self.partial_rotary_factor <= 1, "partial_rotary_factor", "must be in (0, 1]")
        check(self.variant in VARIANTS, "variant", f"{self.variant!r} is not one of {VARIANTS}")
        if self.layer_types is not None:
            check(len(self.layer_types) == self.n_layers, "layer_types", f"needs {self.n_layers} entries")
            check(set(self.layer_types) <= set(LAYER_TYPES), "layer_types", f"entries must be in {LAYER_TYPES}")
            sliding = "sliding_attention" in self.layer_types
            check(not sliding or (self.sliding_window or 0) > 0, "sliding_window", "sliding layers need a window")
        check_probabilities(self, "attention_dropout", "dropout")
        eos = self.eos_token_id
        ids = [eos] if isinstance(eos, int) or eos is None else list(eos)
        for i in ids:
            check(i is None or 0 <= i < self.vocab_size, "eos_token_id", f"{i} is outside the vocabulary")
        check_token_ids(self, self.vocab_size, "bos_token_id", "pad_token_id")

    def rope(self) -> dict[str, Any]:
        """The keyword arguments of ``RotaryEmbedding`` besides the head width."""
        scaling = dict(self.rope_scaling or {})
        scaling.setdefault("original_max_position_embeddings", self.max_position)
        return dict(
            theta=self.rope_theta,
            rope_type=self.rope_type,
            partial_rotary_factor=self.partial_rotary_factor,
            **scaling,
        )
