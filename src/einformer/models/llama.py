"""The Llama family: Llama 2/3, Mistral, Qwen2 and Qwen3, one decoder-only architecture.

Read top-down: Llama -> its layers (``einformer.nn.TransformerLayer``, pre-norm, given RMSNorms, a
SwiGLU feed-forward and a grouped-query attention that rotates its queries and keys) -> the pieces
in ``einformer.nn``. Against GPT-2 (models/gpt.py) it changes the parts, not the layer: RMSNorm for
LayerNorm, rotary positions inside attention for learned ones added to the embeddings, a gated
feed-forward, fewer key/value heads than query heads, no biases. ``LlamaConfig`` names each
relative's departures (Qwen2's q/k/v biases, Qwen3's qk-norm and head width, Mistral's sliding
window). One forward serves training, the prompt, each new token and K proposed tokens.
Shapes: B batch, T new tokens, S all tokens (cached ones included), D model width, V vocabulary.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..config.llama import LlamaConfig
from ..nn import FeedForward, Linear, MultiHeadAttention, RMSNorm, TokenEmbedding, TransformerLayer
from ..nn.masks import merge_masks, padding_keep, sliding_window_keep
from ..nn.rotary import RotaryEmbedding
from .decoder_only import DecoderOnlyLM


class Llama(DecoderOnlyLM):
    """Token ids (B, T) -> next-token logits (B, T, V)."""

    config_class = LlamaConfig

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)
        c = config
        self.embed = TokenEmbedding(c.vocab_size, c.d_model)
        self.rotary = RotaryEmbedding(c.head_dim, **c.rope())  # one for every layer: no parameters
        self.blocks = nn.ModuleList(llama_layer(c, self.rotary) for _ in range(c.n_layers))
        self.final_norm = RMSNorm(c.d_model, eps=c.rms_norm_eps)
        self.lm_head = Linear(c.d_model, c.vocab_size, bias=False)
        self.reset_parameters()
        if c.tie_word_embeddings:
            self.lm_head.weight = self.embed.weight

    def reset_parameters(self) -> None:
        """transformers' init for the family: N(0, 0.02) matrices and embeddings, zero biases, unit norms."""
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() > 1:
                nn.init.normal_(p, std=0.02)
            else:
                nn.init.ones_(p)

    def embed_tokens(self, input_ids: Tensor, position_ids: Tensor) -> Tensor:
        """Token embeddings alone: positions enter inside attention, by rotation."""
        return self.embed(input_ids)

    def layer_masks(self, attention_mask: Tensor | None, past: int, t: int, device) -> list[Tensor | None]:
        """Per layer, by its type: the padding mask (B, 1, 1, S) or None for full attention; with it,
        the sliding window (B or 1, 1, T, S) where the window can matter (causality is each layer's own)."""
        padding = padding_keep(attention_mask)
        sliding, window = padding, self.config.sliding_window
        if window is not None and past + t > window:
            sliding = merge_masks(padding, sliding_window_keep(window, past, t, device))
        types = self.config.layer_types or ("full_attention",) * len(self.blocks)
        return [sliding if kind == "sliding_attention" else padding for kind in types]

    @property
    def max_context(self) -> None:
        """Rotary positions have no table to run past: ``max_position`` is the trained length (the
        scaling variants stretch it), not a limit, as in transformers."""
        return None


def llama_layer(c: LlamaConfig, rotary: RotaryEmbedding) -> TransformerLayer:
    """One pre-norm layer of the family, its parts chosen by the config."""
    qkv_bias = c.attention_bias or c.qkv_bias
    attn = MultiHeadAttention(
        c.d_model,
        c.n_heads,
        d_qk=c.head_dim,
        d_v=c.head_dim,
        n_kv_heads=c.n_kv_heads,
        bias=qkv_bias,
        out_bias=c.attention_bias,
        dropout=c.attention_dropout,
        q_norm=RMSNorm(c.head_dim, eps=c.rms_norm_eps) if c.qk_norm else None,
        k_norm=RMSNorm(c.head_dim, eps=c.rms_norm_eps) if c.qk_norm else None,
        rotary=rotary,
    )
    return TransformerLayer(
        attn=attn,
        ffn=FeedForward(c.d_model, c.d_ff, activation="swiglu", bias=c.mlp_bias),
        attn_norm=RMSNorm(c.d_model, eps=c.rms_norm_eps),
        ffn_norm=RMSNorm(c.d_model, eps=c.rms_norm_eps),
        norm_first=True,
        dropout=c.dropout,
        causal=True,
    )
