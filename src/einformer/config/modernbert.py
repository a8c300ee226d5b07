"""ModernBERT's config: BERT's fields (labels, widths) and what ModernBERT changes."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from ..validation import check, check_activation, check_probabilities
from .bert import BertConfig

LAYER_TYPES = ("full_attention", "sliding_attention")
POOLINGS = ("cls", "mean")
GLOBAL_EVERY = 3  # the paper's pattern: layers 0, 3, 6, ... attend globally


@dataclasses.dataclass(frozen=True)
class ModernBertConfig(BertConfig):
    """ModernBERT (Warner et al. 2024): a pre-norm encoder with rotary positions, a GeGLU feed-forward,
    no biases, and attention that alternates between global layers and local ones (a window of
    ``local_attention`` tokens centred on each query). Hugging Face's names in brackets.

    Fields beyond BERT's, or with another meaning:
        activation: "geglu", the gated feed-forward [hidden_activation="gelu" on the gate's input half].
        dropout: on the embeddings [embedding_dropout]; attention_dropout: on the attention weights and
            on the attention's output; mlp_dropout: inside the feed-forward, before its output map.
        layer_types: per layer "full_attention" or "sliding_attention" (None: global every third layer
            from the first [global_attn_every_n_layers=3]).
        local_attention: the local window's width: a query sees the keys within local_attention // 2
            on each side.
        global_rope_theta, local_rope_theta: the rotary base of the global and of the local layers
            [rope_parameters' rope_theta of "full_attention" and "sliding_attention"].
        norm_bias, attention_bias, mlp_bias: biases in the LayerNorms, the attention's and the
            feed-forward's linear maps (ModernBERT: none).
        decoder_bias: the masked-LM decoder's bias; classifier_bias, classifier_activation: of the task
            heads' dense layer; classifier_pooling: "cls" (first token) or "mean" (over real tokens) for
            sequence classification.
        bos_token_id, eos_token_id, cls_token_id, sep_token_id: kept for Hugging Face's config.json (the
            tokenizer decides what the model reads; transformers does not refuse ids outside the vocabulary,
            so neither does einformer).
    """

    model_type: ClassVar[str] = "modernbert"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "base": dict(vocab_size=50368, d_model=768, n_layers=22, n_heads=12, d_ff=1152),
        "large": dict(vocab_size=50368, d_model=1024, n_layers=28, n_heads=16, d_ff=2624),
        "tiny": dict(vocab_size=99, d_model=32, n_layers=3, n_heads=4, d_ff=48, max_position=64, local_attention=4),
    }

    vocab_size: int = 50368
    d_model: int = 768
    n_layers: int = 22
    n_heads: int = 12
    d_ff: int = 1152
    activation: str = "geglu"
    dropout: float = 0.0
    attention_dropout: float = 0.0
    max_position: int = 8192
    type_vocab_size: int = 0
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 50283
    classifier_dropout: float | None = 0.0
    mlp_dropout: float = 0.0
    layer_types: tuple[str, ...] | None = None
    local_attention: int = 128
    global_rope_theta: float = 160000.0
    local_rope_theta: float = 10000.0
    norm_bias: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    decoder_bias: bool = True
    classifier_bias: bool = False
    classifier_activation: str = "gelu"
    classifier_pooling: str = "cls"
    bos_token_id: int | None = 50281
    eos_token_id: int | None = 50282
    cls_token_id: int | None = 50281
    sep_token_id: int | None = 50282

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def window_radius(self) -> int:
        """How far a local layer's query sees on each side: local_attention // 2."""
        return self.local_attention // 2

    def validate(self) -> None:
        if self.layer_types is None:
            types = tuple("sliding_attention" if i % GLOBAL_EVERY else "full_attention" for i in range(self.n_layers))
            object.__setattr__(self, "layer_types", types)
        super().validate()
        check(self.activation == "geglu", "activation", f"ModernBERT's feed-forward is geglu, got {self.activation!r}")
        check(self.type_vocab_size == 0, "type_vocab_size", "ModernBERT has no token types: must be 0")
        check(len(self.layer_types) == self.n_layers, "layer_types", f"needs {self.n_layers} entries")
        check(set(self.layer_types) <= set(LAYER_TYPES), "layer_types", f"entries must be in {LAYER_TYPES}")
        check(self.local_attention >= 2, "local_attention", f"must be >= 2, got {self.local_attention}")
        for name in ("global_rope_theta", "local_rope_theta"):
            check(getattr(self, name) > 0, name, f"must be > 0, got {getattr(self, name)}")
        check(self.head_dim % 2 == 0, "n_heads", f"rotary positions need an even head width, got {self.head_dim}")
        check_activation(self.classifier_activation)
        check(self.classifier_pooling in POOLINGS, "classifier_pooling", f"must be one of {POOLINGS}")
        check_probabilities(self, "mlp_dropout")
