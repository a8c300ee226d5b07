"""A GPT-style decoder-only language model (GPT-2's architecture by default).

Read top-down: GPT -> its layers (``einformer.nn.TransformerLayer`` with causal attention) ->
attention and feed-forward from ``einformer.nn``. Each position sees itself and the positions before
it (causal self-attention); the model is trained to predict token t + 1 from tokens 0..t. One
forward serves training, the prompt, each new token and K proposed tokens (with a key/value cache).
Shapes: B batch, T new tokens, S all tokens (cached ones included), D model width, V vocabulary.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..config import GPTConfig
from ..nn import Dropout, LayerNorm, LearnedPositionalEmbedding, Linear, TokenEmbedding, transformer_layer
from .decoder_only import DecoderOnlyLM


class GPT(DecoderOnlyLM):
    """Token ids (B, T) -> next-token logits (B, T, V)."""

    config_class = GPTConfig

    def __init__(self, config: GPTConfig) -> None:
        super().__init__(config)
        c = config
        self.embed = TokenEmbedding(c.vocab_size, c.d_model)
        self.pos = LearnedPositionalEmbedding(c.max_position, c.d_model)
        self.dropout = Dropout(c.embedding_dropout)
        self.blocks = nn.ModuleList(
            transformer_layer(
                c.d_model,
                c.n_heads,
                c.d_ff,
                activation=c.activation,
                dropout=c.dropout,
                attention_dropout=c.attention_dropout,
                norm_first=c.norm_first,
                eps=c.layer_norm_eps,
                bias=c.bias,
                causal=True,
            )
            for _ in range(c.n_layers)
        )
        self.final_norm = LayerNorm(c.d_model, eps=c.layer_norm_eps) if c.norm_first else nn.Identity()
        self.lm_head = Linear(c.d_model, c.vocab_size, bias=False)
        self.reset_parameters()
        if c.tie_word_embeddings:
            self.lm_head.weight = self.embed.weight

    def reset_parameters(self) -> None:
        """GPT-2's init: N(0, 0.02) everywhere, residual output projections scaled by 1/sqrt(2 * layers)."""
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() > 1:
                std = (
                    0.02 / (2 * self.config.n_layers) ** 0.5
                    if name.endswith(("out_proj.weight", "fc2.weight"))
                    else 0.02
                )
                nn.init.normal_(p, std=std)

    def embed_tokens(self, input_ids: Tensor, position_ids: Tensor) -> Tensor:
        """Token embeddings plus learned position embeddings (GPT-2's), then dropout while training."""
        x = self.embed(input_ids) + self.pos(position_ids)
        return self.dropout(x) if self.training else x
