"""Building blocks shared by every einformer model; each takes plain numbers, never a config."""

from .act import AdaptiveComputationTime
from .adaptive import AdaptiveEmbedding, AdaptiveLogSoftmax
from .attention import MultiHeadAttention, scaled_dot_product_attention
from .dropout import Dropout, dropout
from .embeddings import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEmbedding,
    TokenEmbedding,
    sinusoidal_table,
)
from .feedforward import FeedForward
from .kv_cache import (
    CrossAttentionCache,
    DynamicCache,
    DynamicLayerCache,
    EncoderDecoderCache,
    StaticCache,
    StaticLayerCache,
)
from .layer import DecoderLayer, TransformerLayer
from .masks import causal_mask, expand_attention_mask, merge_masks, padding_mask
from .relative import RelativeMultiHeadAttention, rel_shift
from .residual import Residual

__all__ = [
    "AdaptiveComputationTime",
    "AdaptiveEmbedding",
    "AdaptiveLogSoftmax",
    "CrossAttentionCache",
    "DecoderLayer",
    "DynamicCache",
    "DynamicLayerCache",
    "Dropout",
    "EncoderDecoderCache",
    "FeedForward",
    "LearnedPositionalEmbedding",
    "MultiHeadAttention",
    "RelativeMultiHeadAttention",
    "Residual",
    "SinusoidalPositionalEmbedding",
    "StaticCache",
    "StaticLayerCache",
    "TokenEmbedding",
    "TransformerLayer",
    "causal_mask",
    "dropout",
    "expand_attention_mask",
    "merge_masks",
    "padding_mask",
    "rel_shift",
    "scaled_dot_product_attention",
    "sinusoidal_table",
]
