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
from .fast_call import FastCall, Linear
from .feedforward import FeedForward
from .kv_cache import (
    CrossAttentionCache,
    DynamicCache,
    DynamicLayerCache,
    EncoderDecoderCache,
    StaticCache,
    StaticLayerCache,
)
from .layer import DecoderLayer, TransformerLayer, decoder_layer, transformer_layer
from .masks import causal_mask, expand_attention_mask, merge_masks, padding_mask
from .norms import LayerNorm, RMSNorm, make_norm
from .packed import prepare_for_inference
from .relative import RelativeMultiHeadAttention, rel_shift

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
    "FastCall",
    "FeedForward",
    "LearnedPositionalEmbedding",
    "Linear",
    "MultiHeadAttention",
    "RelativeMultiHeadAttention",
    "LayerNorm",
    "RMSNorm",
    "SinusoidalPositionalEmbedding",
    "StaticCache",
    "StaticLayerCache",
    "TokenEmbedding",
    "TransformerLayer",
    "causal_mask",
    "decoder_layer",
    "make_norm",
    "prepare_for_inference",
    "transformer_layer",
    "dropout",
    "expand_attention_mask",
    "merge_masks",
    "padding_mask",
    "rel_shift",
    "scaled_dot_product_attention",
    "sinusoidal_table",
]
