"""A GPT-style decoder-only language model (GPT-2's architecture by default).

Read top-down: GPT -> its layers (``einformer.nn.TransformerLayer`` with causal attention) -> the
lean decode step used while generating. Each position
sees itself and the positions before it (causal self-attention); the model is trained to predict
token t + 1 from tokens 0..t. Shapes: B batch, T new tokens, S all tokens (cached ones included),
D model width, V vocabulary.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import GPTConfig
from ..generation.generate import GenerationMixin
from ..nn import Dropout, DynamicCache, LearnedPositionalEmbedding, MultiHeadAttention, StaticCache, TransformerLayer
from ..nn.packed import PackedLinear
from .base import PreTrainedModel


@dataclasses.dataclass
class CausalLMOutput:
    """Hugging Face field names; ``attentions``: one (B, H, T, S) tensor per layer."""

    logits: Tensor
    loss: Tensor | None = None
    attentions: tuple[Tensor, ...] | None = None
    hidden_states: tuple[Tensor, ...] | None = None


class GPT(GenerationMixin, PreTrainedModel):
    """Token ids (B, T) -> next-token logits (B, T, V)."""

    config_class = GPTConfig
    shifts_labels = True  # labels = input_ids; position t is scored on token t + 1

    def __init__(self, config: GPTConfig) -> None:
        super().__init__(config)
        c = config
        self.embed = nn.Embedding(c.vocab_size, c.d_model)
        self.pos = LearnedPositionalEmbedding(c.max_position, c.d_model)
        self.dropout = Dropout(c.embedding_dropout)
        self.blocks = nn.ModuleList(
            TransformerLayer(
                c.d_model,
                c.n_heads,
                c.ffn_dim,
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
        self.final_norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps) if c.norm_first else nn.Identity()
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
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

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        labels: Tensor | None = None,
        *,
        position_ids: Tensor | None = None,
        kv_cache=None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> CausalLMOutput:
        """Causal language-model pass.

        Args:
            input_ids: (B, T) token ids (new tokens only when ``kv_cache`` holds earlier ones).
            attention_mask: (B, S) over all tokens so far, 1 = token, 0 = padding (left padding
                for batched prompts of different lengths).
            labels: (B, T) targets; usually ``input_ids`` itself: position t is scored on token
                t + 1 (the shift happens here), -100 = ignored.
            position_ids: (B, T); default: counted from ``attention_mask`` (padding skipped) or
                continuing after the cache.
            kv_cache: a ``DynamicCache`` or ``StaticCache`` with one layer per block.
        """
        b, t = input_ids.shape
        past = 0 if kv_cache is None else kv_cache.length
        if past + t > self.config.max_position:
            raise ValueError(
                f"{past + t} tokens exceed the model's context of max_position="
                f"{self.config.max_position}; shorten the prompt or lower max_new_tokens"
            )
        if position_ids is None:
            position_ids = positions_from_mask(attention_mask, past, t, input_ids.device)
        x = self.embed(input_ids) + self.pos(position_ids)
        if self.training:
            x = self.dropout(x)
        # no padding and no cache: the fused kernel's own causal mask is fastest
        mask = attention_mask if attention_mask is not None and not bool(attention_mask.all()) else None
        weights, hidden = [], [x]
        for i, block in enumerate(self.blocks):
            x, w = block(x, mask, None if kv_cache is None else kv_cache[i], need_weights=output_attentions)
            weights.append(w)
            hidden.append(x)
        logits = self.lm_head(self.final_norm(x))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100)
        return CausalLMOutput(
            logits, loss, tuple(weights) if output_attentions else None, tuple(hidden) if output_hidden_states else None
        )

    # -- generation ---------------------------------------------------------------------------
    def prompt_length(self, input_ids: Tensor) -> int:
        return input_ids.shape[1]

    def generation_inputs(self, input_ids, attention_mask, cache: str, max_length: int):
        if max_length > self.config.max_position:
            raise ValueError(
                f"prompt + new tokens = {max_length} exceed the context of max_position="
                f"{self.config.max_position}; lower max_new_tokens or shorten the prompt"
            )
        return input_ids, CausalLMDecoder(self, attention_mask, cache, max_length)

    # -- Hugging Face interop ----------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, directory: str | Path, *, map_location: str | torch.device = "cpu") -> GPT:
        """Load our own directory, or a Hugging Face GPT-2 one (config.json with model_type "gpt2")."""
        from ..interop.gpt2 import is_hf_gpt2, load_hf_gpt2

        if is_hf_gpt2(directory):
            return load_hf_gpt2(cls, directory).to(map_location).eval()
        return super().from_pretrained(directory, map_location=map_location)

    def save_hf(self, directory: str | Path) -> Path:
        """Hugging Face layout: transformers' GPT2LMHeadModel loads it with identical logits."""
        from ..interop.gpt2 import save_hf_gpt2

        return save_hf_gpt2(self, directory)


def positions_from_mask(attention_mask: Tensor | None, past: int, t: int, device) -> Tensor:
    """(B, T) position ids: count only real tokens, so a left-padded prompt starts at 0 (as HF does)."""
    if attention_mask is None:
        return torch.arange(past, past + t, device=device)[None]
    positions = attention_mask.long().cumsum(-1) - 1
    positions = positions.masked_fill(attention_mask == 0, 1)  # padding: any valid id, never attended to
    return positions[:, -t:]


class CausalLMDecoder:
    """Generation state for a decoder-only model: cache, growing attention mask.

    The prompt goes through the regular forward. Each later single-token step takes a lean path,
    ``fast_step``: the same computation on functional ops, with each layer's query, key and value
    weights fused into one matrix (one matrix product instead of three), every weight packed once
    per generation for oneDNN (``nn/packed.py``: few-row products run near the memory-bandwidth
    floor), and logits for the last position only. Tests hold it to the regular forward's tokens.
    """

    def __init__(self, model: GPT, attention_mask: Tensor | None, cache: str, max_length: int) -> None:
        n = len(model.blocks)
        self.model, self.mask = model, attention_mask
        self.cache = None if cache == "none" else StaticCache(n, max_length) if cache == "static" else DynamicCache(n)
        self.tokens: Tensor | None = None
        self.started = False
        self.lean = self.cache is not None and model.config.norm_first and not model.blocks[0].ffn.gated
        self.weights: DecodeWeights | None = None  # packed at the first lean step, for its number of rows

    def step(self, tokens: Tensor) -> Tensor:
        """New tokens (N, T_new) -> logits (N, V) of the last one."""
        if self.started and self.mask is not None:
            self.mask = torch.cat([self.mask, self.mask.new_ones(tokens.shape)], dim=1)
        first, self.started = not self.started, True
        if self.cache is None:  # no cache: re-run everything so far
            self.tokens = tokens if self.tokens is None else torch.cat([self.tokens, tokens], dim=1)
            tokens = self.tokens
        if self.lean and not first and tokens.shape[1] == 1:
            if self.weights is None:
                self.weights = DecodeWeights(self.model, rows=tokens.shape[0])
            return fast_step(self.model, self.weights, tokens, self.cache, self.mask)
        return self.model(tokens, self.mask, kv_cache=self.cache).logits[:, -1]

    def reorder(self, index: Tensor) -> None:
        if self.mask is not None:
            self.mask = self.mask.index_select(0, index)
        if self.tokens is not None:
            self.tokens = self.tokens.index_select(0, index)
        if self.cache is not None:
            self.cache.reorder(index)


class DecodeWeights:
    """Per layer: fused query/key/value, output, and feed-forward projections as ``PackedLinear``s."""

    def __init__(self, model: GPT, rows: int, *, pack: bool = True) -> None:
        self.qkv, self.out, self.fc1, self.fc2 = [], [], [], []
        for block in model.blocks:
            attn, ffn = block.attn, block.ffn
            self.qkv.append(PackedLinear(*_fuse_qkv(attn), rows, pack=pack))
            self.out.append(PackedLinear(attn.out_proj.weight, attn.out_proj.bias, rows, pack=pack))
            self.fc1.append(PackedLinear(ffn.fc1.weight, ffn.fc1.bias, rows, pack=pack))
            self.fc2.append(PackedLinear(ffn.fc2.weight, ffn.fc2.bias, rows, pack=pack))
        self.lm_head = PackedLinear(model.lm_head.weight, model.lm_head.bias, rows, pack=pack)


def _fuse_qkv(attn: MultiHeadAttention) -> tuple[Tensor, Tensor | None]:
    """One (Dq + Dk + Dv, D) weight (and bias) for the three projections."""
    weight = torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])
    bias = None if attn.q_proj.bias is None else torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias])
    return weight, bias


def fast_step(model: GPT, w: DecodeWeights, token: Tensor, cache, mask: Tensor | None) -> Tensor:
    """One new token (B, 1) through a pre-norm GPT with a cache -> logits (B, V); eval mode only.

    Activations stay (B, D): with one position per row there is no time axis to carry."""
    b, past = token.shape[0], cache.length
    position = positions_from_mask(mask, past, 1, token.device)[:, 0]  # (B,) or (1,)
    x = model.embed(token[:, 0]) + model.pos.weight[position]  # (B, D)
    keep = None if mask is None or bool(mask.all()) else (mask != 0)[:, None, None, :]  # (B, 1, 1, S)
    for i, (block, layer_cache) in enumerate(zip(model.blocks, cache.layers, strict=True)):
        attn, norm1, norm2 = block.attn, block.attn_block.norm, block.ffn_block.norm
        h = F.layer_norm(x, norm1.normalized_shape, norm1.weight, norm1.bias, norm1.eps)
        # (B, 3 * H * Dh) -> q, k, v (B, H, 1, Dh); with one position, (B, 1, H, Dh) and (B, H, 1, Dh)
        # share a memory layout, so a view replaces the transpose (a GPT has as many key as query heads)
        q, k, v = w.qkv[i](h).view(b, 3, attn.n_heads, 1, attn.d_qk).unbind(1)
        k, v = layer_cache.update(k, v)  # (B, H, S, Dh)
        # the newest query is the last position: it may see every cached key (no causal mask)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        x = x + w.out[i](out.reshape(b, attn.n_heads * attn.d_v))  # (B, H, 1, Dv) -> (B, H * Dv)
        h = F.layer_norm(x, norm2.normalized_shape, norm2.weight, norm2.bias, norm2.eps)
        x = x + w.fc2[i](block.ffn.act(w.fc1[i](h)))
    return w.lm_head(model.final_norm(x))
