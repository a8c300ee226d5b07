"""The encoder-decoder Transformer's config."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from ..validation import (
    check,
    check_activation,
    check_heads,
    check_layout,
    check_positive,
    check_probabilities,
    check_token_ids,
)
from .base import BaseConfig


@dataclasses.dataclass(frozen=True)
class EncoderDecoderConfig(BaseConfig):
    """The Transformer of "Attention Is All You Need" (Vaswani et al. 2017).

    Departures from the paper are named options: ``norm_first`` (pre-norm instead of the paper's
    post-norm), ``positions="learned"`` (instead of sinusoids), ``activation`` (the paper: relu),
    ``d_qk`` / ``d_v`` (per-head widths; the paper: d_k = d_v = d_model / n_heads),
    ``scale_embedding=False`` (the paper multiplies embeddings by sqrt(d_model)),
    ``sinusoid_layout="halves"`` (sines in the first half of each vector and cosines in the second,
    as tensor2tensor and Marian lay them out, instead of interleaved), ``output_bias`` (a bias on the
    output projection: Marian's ``final_logits_bias``).
    """

    model_type: ClassVar[str] = "encoder-decoder"
    renamed: ClassVar[dict[str, str]] = {"tie_output": "tie_word_embeddings"}
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "base": dict(d_model=512, n_heads=8, n_encoder_layers=6, n_decoder_layers=6, d_ff=2048, dropout=0.1),
        "small": dict(d_model=256, n_heads=4, n_encoder_layers=3, n_decoder_layers=3, d_ff=1024, dropout=0.1),
        "tiny": dict(d_model=64, n_heads=4, n_encoder_layers=2, n_decoder_layers=2, d_ff=256, dropout=0.0),
        "demo": dict(
            d_model=128,
            n_heads=4,
            n_encoder_layers=2,
            n_decoder_layers=2,
            d_ff=512,
            dropout=0.0,
            norm_first=True,
            label_smoothing=0.0,
        ),
    }

    src_vocab_size: int = 32000
    tgt_vocab_size: int = 32000
    d_model: int = 512
    n_heads: int = 8
    n_encoder_layers: int = 6
    n_decoder_layers: int = 6
    d_ff: int = 2048
    d_qk: int | None = None  # per-head query/key width (None: d_model / n_heads)
    d_v: int | None = None  # per-head value width (None: d_model / n_heads)
    dropout: float = 0.1  # on embeddings and every sub-layer output (the paper's P_drop)
    attention_dropout: float = 0.0  # on attention weights (not in the paper)
    activation: str = "relu"
    norm_first: bool = False  # the paper is post-norm
    positions: str = "sinusoidal"  # or "learned"
    sinusoid_layout: str = "interleaved"  # or "halves" (Marian, tensor2tensor)
    scale_embedding: bool = True  # multiply embeddings by sqrt(d_model) (section 3.4)
    output_bias: bool = False  # a bias on the output projection (Marian's final_logits_bias)
    max_position: int = 1024
    share_embeddings: bool = False  # one embedding for source and target (needs a joint vocabulary)
    tie_word_embeddings: bool = True  # the output projection reuses the target embedding (section 3.4)
    label_smoothing: float = 0.1  # the paper's epsilon_ls
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 0
    bos_token_id: int = 1
    eos_token_id: int | None = 2  # None: no end token (a Marian config.json whose id is past the vocabulary)

    def validate(self) -> None:
        check_heads(self.d_model, self.n_heads)
        check_positive(self, "n_encoder_layers", "n_decoder_layers", "d_ff", "max_position")
        for name in ("d_qk", "d_v"):
            width = getattr(self, name)
            check(width is None or width >= 1, name, f"must be None (d_model / n_heads) or >= 1, got {width}")
        check(self.src_vocab_size > 4 and self.tgt_vocab_size > 4, "src_vocab_size", "vocabularies need > 4 ids")
        check_probabilities(self, "dropout", "attention_dropout", "label_smoothing")
        check_activation(self.activation)
        check(self.positions in ("sinusoidal", "learned"), "positions", "must be 'sinusoidal' or 'learned'")
        check_layout(self.sinusoid_layout)
        check(
            not self.share_embeddings or self.src_vocab_size == self.tgt_vocab_size,
            "share_embeddings",
            f"needs one joint vocabulary, got src {self.src_vocab_size} and tgt {self.tgt_vocab_size}",
        )
        check_token_ids(self, self.tgt_vocab_size, "pad_token_id", "bos_token_id", "eos_token_id")
