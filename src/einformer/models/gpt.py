"""A GPT-style decoder-only language model (GPT-2's architecture by default).

Read top-down: GPT -> its layers (``einformer.nn.TransformerLayer`` with causal attention) -> the
single-token step used while generating (``GPT.step``, through ``TransformerLayer.step``). Each position
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
from ..nn import Dropout, LearnedPositionalEmbedding, TransformerLayer
from ..nn.masks import causal_mask
from ..nn.packed import PackedLinear
from .base import PreTrainedModel, load_generation_config, save_generation_config


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
    decoding = "causal"
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
        logits_to_keep: int = 0,
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
            logits_to_keep: the logits of the last N positions only (0: all), as Hugging Face's:
                a prompt pass needs one row of (T, V), and the output projection of the others is
                about a fifth of a 256-token prompt's time for the 6 x 384 GPT.
        """
        if logits_to_keep and labels is not None:
            raise ValueError("labels score every position: leave logits_to_keep at 0 to compute the loss")
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
        x = hidden[-1] = self.final_norm(x)  # the last hidden state after the final LayerNorm, as in GPT-2
        logits = self.lm_head(x[:, -logits_to_keep:] if logits_to_keep else x)  # (B, T or logits_to_keep, V)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100)
        return CausalLMOutput(
            logits, loss, tuple(weights) if output_attentions else None, tuple(hidden) if output_hidden_states else None
        )

    # -- generation (the state lives in generation/decoders.py: CausalState) -----------------
    @property
    def n_cached_layers(self) -> int:
        return len(self.blocks)

    def step(self, tokens: Tensor, kv_cache, attention_mask: Tensor | None, weights: dict) -> Tensor:
        """One new token per row after the cached ones: tokens (B,) -> logits (B, V); eval mode.

        The same computation as ``forward(tokens[:, None], attention_mask, kv_cache=kv_cache)`` on
        (B, D) activations through ``TransformerLayer.step``, with the logits of that one position.
        ``weights``: from ``step_weights``; ``attention_mask`` (B, S) covers the new token too.
        Tokens (B, T) (proposed tokens to check) give logits (B, T, V), the packed weights serving
        T rows per sequence and a causal mask aligned after the cache.
        """
        if tokens.dim() == 2:
            return self._step_many(tokens, kv_cache, attention_mask, weights)
        position = positions_from_mask(attention_mask, kv_cache.length, 1, tokens.device)[:, 0]  # (B,) or (1,)
        x = self.embed(tokens) + self.pos.weight[position]  # (B, D)
        padded = attention_mask is not None and not bool(attention_mask.all())
        keep = (attention_mask != 0)[:, None, None, :] if padded else None  # (B, 1, 1, S)
        for block, layer_cache, w in zip(self.blocks, kv_cache.layers, weights["layers"], strict=True):
            x = block.step(x, layer_cache, keep, w)
        return weights["lm_head"](self.final_norm(x))

    def _step_many(self, tokens: Tensor, kv_cache, attention_mask: Tensor | None, weights: dict) -> Tensor:
        t, past = tokens.shape[1], kv_cache.length
        x = self.embed(tokens) + self.pos(positions_from_mask(attention_mask, past, t, tokens.device))  # (B, T, D)
        keep = causal_mask(t, past + t, device=tokens.device)[None, None]  # (1, 1, T, S)
        if attention_mask is not None and not bool(attention_mask.all()):
            keep = keep & (attention_mask != 0)[:, None, None, :]  # (B, 1, T, S)
        for block, layer_cache, w in zip(self.blocks, kv_cache.layers, weights["layers"], strict=True):
            x = block.step(x, layer_cache, keep, w)
        return weights["lm_head"](self.final_norm(x))  # (B, T, V)

    def step_weights(self, rows: int, *, pack: bool = True) -> dict:
        """Every weight ``step`` multiplies by, prepared once for about ``rows`` rows
        (``generation/decoders.prepared_weights`` keeps them between generate calls)."""
        return {
            "layers": [block.step_weights(rows, pack=pack) for block in self.blocks],
            "lm_head": PackedLinear(self.lm_head.weight, self.lm_head.bias, rows, pack=pack),
        }

    # -- Hugging Face interop ----------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, directory: str | Path, *, map_location: str | torch.device = "cpu") -> GPT:
        """Load our own directory, or a Hugging Face GPT-2 one (config.json with model_type "gpt2")."""
        from ..interop.gpt2 import is_hf_gpt2, load_hf_gpt2

        if is_hf_gpt2(directory):
            model = load_hf_gpt2(cls, directory)
            load_generation_config(model, directory)
            return model.to(map_location).eval()
        return super().from_pretrained(directory, map_location=map_location)

    def save_hf(self, directory: str | Path) -> Path:
        """Hugging Face layout: transformers' GPT2LMHeadModel loads it with identical logits."""
        from ..interop.gpt2 import save_hf_gpt2

        save_hf_gpt2(self, directory)
        save_generation_config(self, directory)
        return Path(directory)


def positions_from_mask(attention_mask: Tensor | None, past: int, t: int, device) -> Tensor:
    """(B, T) position ids: count only real tokens, so a left-padded prompt starts at 0 (as HF does)."""
    if attention_mask is None:
        return torch.arange(past, past + t, device=device)[None]
    positions = attention_mask.long().cumsum(-1) - 1
    positions = positions.masked_fill(attention_mask == 0, 1)  # padding: any valid id, never attended to
    return positions[:, -t:]
