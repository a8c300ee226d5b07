"""Transformer-XL's config."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from ..validation import (
    check,
    check_positive,
    check_probabilities,
    check_token_ids,
)
from .base import BaseConfig


@dataclasses.dataclass(frozen=True)
class TransformerXLConfig(BaseConfig):
    """Transformer-XL (Dai et al. 2019): segment-level recurrence with relative positions.

    Defaults follow the reference PyTorch code: post-norm (``norm_first`` is a named option), u and v
    shared by every layer (``untie_r=True`` gives each layer its own), relu feed-forward. ``mem_len``
    is how many earlier states each layer keeps; ``segment_length`` is the training segment and the
    chunk in which generation reads a prompt; both can be changed at evaluation. ``clamp_len`` gives
    every distance beyond it the same encoding; ``same_length`` makes every query see ``mem_len`` keys.
    ``cutoffs``/``div_val`` turn on the adaptive input and softmax (empty: a plain embedding and softmax).
    ``mem_init="zeros"`` starts the memory as ``mem_len`` zero states, as Hugging Face's port did (the
    first segment then attends to zeros as if they were text); the reference code's "empty" is the default.
    Three options express the reference code where einformer's defaults differ: ``final_norm=False``
    (a pre-norm stack without the closing LayerNorm, as the reference; default: pre-norm closes with
    one), ``always_project`` (every adaptive cluster learns a projection, even one as wide as d_model,
    as the reference does when div_val > 1) and ``tie_projs`` as one flag per cluster (the wt103
    scripts tie [False, True, True, True]).
    """

    model_type: ClassVar[str] = "transformer-xl"
    renamed: ClassVar[dict[str, str]] = {"d_inner": "d_ff", "tie_weight": "tie_word_embeddings"}
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # the paper's WikiText-103 base model
        "wt103-base": dict(
            vocab_size=267735,
            d_model=410,
            n_layers=16,
            n_heads=10,
            d_head=41,
            d_ff=2100,
            mem_len=150,
            segment_length=150,
            cutoffs=(20000, 40000, 200000),
            div_val=1,
        ),
        "small": dict(vocab_size=256, d_model=256, n_layers=4, n_heads=4, d_ff=1024, mem_len=64, segment_length=64),
        "tiny": dict(vocab_size=99, d_model=32, n_layers=2, n_heads=4, d_ff=64, mem_len=16, segment_length=16),
    }

    vocab_size: int = 267735
    d_model: int = 410
    d_embed: int | None = None  # default d_model
    n_layers: int = 16
    n_heads: int = 10
    d_head: int | None = None  # default d_model // n_heads
    d_ff: int = 2100  # the reference code's d_inner
    dropout: float = 0.1
    attention_dropout: float = 0.0
    mem_len: int = 150
    segment_length: int = 150
    clamp_len: int | None = None
    same_length: bool = False
    mem_init: str = "empty"
    untie_r: bool = False
    norm_first: bool = False
    cutoffs: tuple[int, ...] = ()
    div_val: int = 1
    tie_word_embeddings: bool = True  # the reference code's tie_weight
    tie_projs: bool | tuple[bool, ...] = True  # one flag, or one per cluster (the reference code's list)
    always_project: bool = False  # a projection for every adaptive cluster (the reference, div_val > 1)
    final_norm: bool | None = None  # a LayerNorm closing the stack; None: with pre-norm (the reference: never)
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    pad_token_id: int | None = None

    @property
    def embed_dim(self) -> int:
        return self.d_model if self.d_embed is None else self.d_embed

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads if self.d_head is None else self.d_head

    def validate(self) -> None:
        check(self.vocab_size > 0, "vocab_size", f"must be positive, got {self.vocab_size}")
        check_positive(self, "n_layers", "n_heads", "head_dim", "d_ff", "segment_length", "div_val")
        check(self.d_model % 2 == 0, "d_model", f"must be even for the sinusoidal encodings, got {self.d_model}")
        check(self.mem_len >= 0, "mem_len", f"must be >= 0, got {self.mem_len}")
        check(self.clamp_len is None or self.clamp_len >= 1, "clamp_len", "must be >= 1 or None")
        check(self.mem_init in ("empty", "zeros"), "mem_init", f"must be 'empty' or 'zeros', got {self.mem_init!r}")
        check(
            list(self.cutoffs) == sorted(set(self.cutoffs)) and all(0 < c < self.vocab_size for c in self.cutoffs),
            "cutoffs",
            f"{list(self.cutoffs)} must increase strictly and lie inside (0, vocab_size={self.vocab_size})",
        )
        check_probabilities(self, "dropout", "attention_dropout")
        check_token_ids(self, self.vocab_size, "bos_token_id", "eos_token_id", "pad_token_id")
        if not isinstance(self.tie_projs, bool):
            n = len(self.cutoffs) + 1
            check(
                len(self.tie_projs) == n, "tie_projs", f"give one flag, or one per cluster ({n}), got {self.tie_projs}"
            )
