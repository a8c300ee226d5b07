"""What every decoder-only language model shares: the one forward over its stack of causal layers.

A subclass (GPT, Llama) builds ``embed``, ``blocks``, ``final_norm`` and ``lm_head`` and says how its
tokens enter (``embed_tokens``: learned positions added, or none where attention rotates them) and
which mask each layer reads (``layer_masks``: padding, a sliding window). The forward serves
training, the prompt, each new token and K proposed tokens alike, with a key/value cache.
Shapes: B batch, T new tokens, S all tokens (cached ones included), D model width, V vocabulary.
"""

from __future__ import annotations

import dataclasses

import torch.nn.functional as F
from torch import Tensor

from ..generation.generate import GenerationMixin
from ..generation.kinds import CausalLM
from ..nn.masks import padding_keep, positions_from_mask
from .base import PreTrainedModel


@dataclasses.dataclass
class CausalLMOutput:
    """Hugging Face field names; ``attentions``: one (B, H, T, S) tensor per layer."""

    logits: Tensor
    loss: Tensor | None = None
    attentions: tuple[Tensor, ...] | None = None
    hidden_states: tuple[Tensor, ...] | None = None


class DecoderOnlyLM(CausalLM, GenerationMixin, PreTrainedModel):
    """Token ids (B, T) -> next-token logits (B, T, V) through causal layers."""

    shifts_labels = True  # labels = input_ids; position t is scored on token t + 1
    # a cached step's token passes the blocks as (B, D) (see ``forward``): true of ``TransformerLayer``,
    # whose parts are position-wise but attention, which reads a 2-D query with a cache as T = 1; a
    # family whose blocks need the length axis sets False
    flat_decoding = True

    def embed_tokens(self, input_ids: Tensor, position_ids: Tensor) -> Tensor:
        """(B, T) ids and positions -> (B, T, D), what the first layer reads."""
        raise NotImplementedError

    def layer_masks(self, attention_mask: Tensor | None, past: int, t: int, device) -> list[Tensor | None]:
        """One keep-mask per layer, shared objects where layers agree; default: the padding mask
        (B, 1, 1, S) or None for every layer (causality is each layer's own)."""
        return [padding_keep(attention_mask)] * len(self.blocks)

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
        t = input_ids.shape[1]
        past = 0 if kv_cache is None else kv_cache.length
        if self.max_context is not None and past + t > self.max_context:
            raise ValueError(
                f"{past + t} tokens exceed the model's context of max_position="
                f"{self.max_context}; shorten the prompt or lower max_new_tokens"
            )
        if position_ids is None:
            position_ids = positions_from_mask(attention_mask, past, t, input_ids.device)
        x = self.embed_tokens(input_ids, position_ids)
        masks = self.layer_masks(attention_mask, past, t, x.device)
        # One cached position per row (a decoded token): the blocks get (B, D), which attention reads as
        # T = 1 and every other part is position-wise; oneDNN's packed product reshapes a 3-D input at
        # about 3 us a call, 2-3% of a token of the 6 x 384 GPT (docs/generation.md)
        asked = labels is not None or output_attentions or output_hidden_states
        flat = self.flat_decoding and t == 1 and kv_cache is not None and not asked
        if flat:
            x = x.view(x.shape[0], x.shape[2])  # (B, 1, D) -> (B, D)
        n = len(self.blocks)
        caches = [None] * n if kv_cache is None else kv_cache.layers
        if len(caches) != n:
            raise ValueError(f"kv_cache has {len(caches)} layers and this model {n}: build it as DynamicCache({n})")
        weights, hidden = [], [x]
        for block, mask, layer_cache in zip(self.blocks, masks, caches, strict=True):
            x, w = block(x, mask, layer_cache, position_ids=position_ids, need_weights=output_attentions)
            if output_attentions or output_hidden_states:
                weights.append(w)
                hidden.append(x)
        x = self.final_norm(x)
        if output_hidden_states:
            hidden[-1] = x  # the last hidden state after the final norm, as transformers'
        if flat:
            logits = self.lm_head(x).unsqueeze(1)  # (B, V) -> (B, 1, V)
        else:
            logits = self.lm_head(x[:, -logits_to_keep:] if logits_to_keep else x)  # (B, T or logits_to_keep, V)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100)
        return CausalLMOutput(
            logits, loss, tuple(weights) if output_attentions else None, tuple(hidden) if output_hidden_states else None
        )

    @property
    def n_cached_layers(self) -> int:
        """Layers with a key/value cache (generation/decoders.py: CausalState)."""
        return len(self.blocks)
