"""Decoder state: what a model carries from one generated token to the next, owned here.

The loops in ``search.py`` see a decoder as ``step(tokens) -> logits`` and ``reorder(index)``.
Three states serve every einformer model; a model says which it needs by its kind
(``generation/kinds.py``):

* ``CausalLM``, ``CausalState`` (GPT): the prompt, each later token and proposed tokens all go
  through the model's one forward, ``model(ids, mask, kv_cache=...)``, with a key/value cache.
* ``Seq2SeqLM``, ``Seq2SeqState`` (the encoder-decoder, the Universal Transformer): the source is
  encoded once (``model.encoder_states``); the decoder starts from BOS with an
  ``EncoderDecoderCache`` (the first call fills the cross-attention caches) and every later call
  goes through ``model.decode``. A model without a cache (``supports_cache = False``: the Universal
  Transformer) re-reads its prefix every step.
* ``MemoryLM``, ``MemoryState`` (Transformer-XL): the prompt is read in segments into the memory,
  then each token is a segment of one. Its attention keys are recomputed from the memory states
  (relative positions shift with every new token), so it has no key/value cache.

Decoding fast is a swap of the model's modules, not a second path: with ``fast`` (the default) a
state calls ``nn.packed.prepare_for_inference`` once it knows how many rows it runs (oneDNN-packed
linear layers, one q/k/v product per self-attention; they re-pack by themselves when the weights
change). ``fast=False`` runs the plain modules, the reference the tests hold the fast path to.

Without a cache (``use_cache=False``) every state re-runs the whole prefix: ``DecoderState.inputs``
is the one place that does it, and ``DecoderState.reorder`` the one place that follows beams.

``trace(attentions, hidden_states)`` asks a state to keep, for every step, the attention weights
and hidden states of the model call that made the step's logits (Hugging Face's
``output_attentions`` / ``output_hidden_states`` in ``generate``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..nn.kv_cache import DynamicCache, EncoderDecoderCache, StaticCache
from ..nn.masks import padding_keep
from ..nn.packed import prepare_for_inference, release
from .kinds import CausalLM, MemoryLM, Seq2SeqLM


def prompt_length(model, input_ids: Tensor) -> int:
    """Tokens that count as already generated: the prompt (decoder-only), or BOS alone (seq2seq)."""
    return 1 if isinstance(model, Seq2SeqLM) else input_ids.shape[1]


def start(
    model, input_ids: Tensor, attention_mask: Tensor | None, cache: str, max_length: int, *, fast=True, start_token=None
):
    """(the prompt the loops extend (B, P), the decoder state) for ``model``.

    Args:
        cache: "dynamic", "static" or "none" (re-run the prefix every step).
        max_length: prompt + new tokens (the static cache's size).
        fast: swap in packed, fused linear layers (``nn.packed.prepare_for_inference``) before the
            first cached step; False runs the plain modules (undoing an earlier preparation), the
            reference the fast modules are tested and benchmarked against.
        start_token: the seq2seq decoder's first token (default: the model's BOS).
    """
    if isinstance(model, CausalLM):
        return input_ids, CausalState(model, attention_mask, cache, max_length, fast=fast)
    if isinstance(model, Seq2SeqLM):
        memory = model.encoder_states(input_ids, attention_mask)
        first = model.config.bos_token_id if start_token is None else start_token
        bos = torch.full((input_ids.shape[0], 1), first, dtype=torch.long, device=input_ids.device)
        return bos, Seq2SeqState(model, memory, attention_mask, cache, max_length, fast=fast)
    if isinstance(model, MemoryLM):
        return input_ids, MemoryState(model, attention_mask)
    raise ValueError(f"{type(model).__name__} does not generate (it is no CausalLM, Seq2SeqLM or MemoryLM)")


def new_cache(kind: str, n_layers: int, max_length: int) -> DynamicCache | StaticCache | None:
    if kind == "none":
        return None
    return StaticCache(n_layers, max_length) if kind == "static" else DynamicCache(n_layers)


class DecoderState:
    """What every state shares: the prefix (without a cache), following the beams, and preparing the
    model's modules for inference.

    Subclasses list in ``batched`` the attributes whose rows are batch rows (tensors or tuples of
    tensors), which ``reorder`` selects along with the cache.
    """

    batched: tuple[str, ...] = ()

    def __init__(self, model, cache, *, fast: bool = False) -> None:
        self.model, self.cache = model, cache
        self.prefix: Tensor | None = None  # every token so far, kept only without a cache
        self.started = False
        self.fast = fast and cache is not None  # prepare the modules at the first cached step
        self.prepared = False
        self.traced: dict[str, list] | None = None  # per-step attentions / hidden states, when asked
        if not fast:
            release(model)

    def trace(self, attentions: bool, hidden_states: bool) -> None:
        """Keep each step's attention weights and/or hidden states in ``traced``."""
        self.traced = {name: [] for name, on in (("attentions", attentions), ("hidden_states", hidden_states)) if on}

    def _keep(self, **per_step) -> None:
        for name, value in per_step.items():
            if self.traced is not None and name in self.traced:
                self.traced[name].append(value)

    def inputs(self, tokens: Tensor) -> Tensor:
        """The tokens the model must read now: the new ones, or everything so far without a cache."""
        if self.cache is not None:
            return tokens
        self.prefix = tokens if self.prefix is None else torch.cat([self.prefix, tokens], dim=1)
        return self.prefix

    def prepare(self, rows: int) -> None:
        """Once, before the first cached step: packed linear layers for about ``rows`` rows per call."""
        if self.fast and not self.prepared:
            prepare_for_inference(self.model, rows)
            self.prepared = True

    def reorder(self, index: Tensor) -> None:
        for name in (*self.batched, "prefix"):
            value = getattr(self, name)
            if isinstance(value, tuple):
                setattr(self, name, tuple(v.index_select(0, index) for v in value))
            elif value is not None:
                setattr(self, name, value.index_select(0, index))
        if self.cache is not None:
            self.cache.reorder(index)


class CausalState(DecoderState):
    """A decoder-only model: the key/value cache and the attention mask, which grows by one column
    per token (left padding stays masked)."""

    batched = ("mask",)

    def __init__(self, model, attention_mask: Tensor | None, cache: str, max_length: int, *, fast: bool = True):
        if model.max_context is not None and max_length > model.max_context:
            raise ValueError(
                f"prompt + new tokens = {max_length} exceed the context of max_position="
                f"{model.max_context}; lower max_new_tokens or shorten the prompt"
            )
        super().__init__(model, new_cache(cache, model.n_cached_layers, max_length), fast=fast)
        self.mask = attention_mask

    def verify(self, tokens: Tensor) -> Tensor:
        """Several new tokens (N, T_new) at once -> the logits (N, T_new, V) after each one; the cache
        keeps them all until ``rollback`` (prompt-lookup decoding checks proposals this way)."""
        if self.cache is None:
            raise ValueError("checking proposed tokens needs a key/value cache (use_cache=True)")
        self._extend_mask(tokens)
        self.started = True
        self.prepare(tokens.numel())
        return self.model(tokens, self.mask, kv_cache=self.cache).logits

    def _extend_mask(self, tokens: Tensor) -> None:
        """New tokens are real tokens: one more column of ones per token."""
        if self.mask is not None:
            self.mask = torch.cat([self.mask, self.mask.new_ones(tokens.shape)], dim=1)

    def rollback(self, length: int) -> None:
        """Keep the first ``length`` positions: the cache (``crop``) and the attention mask."""
        self.cache.crop(length)
        if self.mask is not None:
            self.mask = self.mask[:, :length]

    def step(self, tokens: Tensor) -> Tensor:
        """New tokens (N, T_new) -> logits (N, V) of the last one."""
        if self.started:  # the first call's tokens are the prompt, which the mask already covers
            self._extend_mask(tokens)
            self.prepare(tokens.shape[0])
        self.started = True
        traced = self.traced or {}
        out = self.model(
            self.inputs(tokens),
            self.mask,
            kv_cache=self.cache,
            output_attentions="attentions" in traced,
            output_hidden_states="hidden_states" in traced,
            logits_to_keep=1,  # the last position's logits only (a prompt's others are not needed)
        )
        self._keep(attentions=out.attentions, hidden_states=out.hidden_states)
        return out.logits[:, -1]


class Seq2SeqState(DecoderState):
    """An encoder-decoder: the encoder's memory and its mask, and the decoder's caches (or none)."""

    batched = ("memory", "memory_mask")

    def __init__(self, model, memory: Tensor, memory_mask: Tensor | None, cache: str, max_length: int, *, fast=True):
        caches = model.supports_cache and cache != "none"
        new = EncoderDecoderCache(new_cache(cache, model.n_cached_layers, max_length)) if caches else None
        super().__init__(model, new, fast=fast)
        # (B, 1, 1, S) or None, made once: every step's cross-attention reads the same source padding
        self.memory, self.memory_mask = memory, padding_keep(memory_mask)

    def verify(self, tokens: Tensor) -> Tensor:
        """Several new target tokens (N, T_new) at once -> the logits (N, T_new, V) after each one; the
        self-attention caches keep them all until ``rollback`` (as ``CausalState.verify``)."""
        if self.cache is None:
            raise ValueError("checking proposed tokens needs a key/value cache (use_cache=True)")
        if self.started:
            self.prepare(tokens.numel())
        self.started = True
        return self.model.decode(tokens, self.memory, self.memory_mask, cache=self.cache)[0]

    def rollback(self, length: int) -> None:
        """Keep the first ``length`` target positions (the cross-attention caches stay)."""
        self.cache.crop(length)

    def step(self, tokens: Tensor) -> Tensor:
        """New target tokens (N, T_new) -> logits (N, V) of the last one."""
        if self.started:
            self.prepare(tokens.shape[0])
        self.started = True
        cache = {} if self.cache is None else {"cache": self.cache}
        traced = self.traced or {}
        if traced:
            cache["need_weights"] = "attentions" in traced
            cache["hidden"] = [] if "hidden_states" in traced else None
        out = self.model.decode(self.inputs(tokens), self.memory, self.memory_mask, **cache)
        if traced:
            self._keep(attentions=out[1], hidden_states=tuple(cache["hidden"] or ()))  # (self, cross) weights
        return out[0][:, -1]

    def trace(self, attentions: bool, hidden_states: bool) -> None:
        if not hasattr(self.model, "decoder_layers"):
            raise ValueError(
                f"{type(self.model).__name__} has no per-layer attentions to return from generate (its layers "
                "recur); see its ponder map (einformer ponder)"
            )
        super().trace(attentions, hidden_states)


class MemoryState(DecoderState):
    """Transformer-XL: the memory. The prompt is read in segments of ``segment_length``."""

    batched = ("mems",)

    def __init__(self, model, attention_mask: Tensor | None) -> None:
        if attention_mask is not None and not bool(attention_mask.all()):
            raise ValueError(
                "Transformer-XL generates unpadded batches (its memory has no padding mask); generate "
                "prompts of different lengths separately"
            )
        if model.config.mem_len < 1:
            raise ValueError("generation needs memory: this model has mem_len=0; set a positive mem_len")
        super().__init__(model, None, fast=True)  # no cache: nothing to prepare, nothing to undo
        self.mems = None

    def step(self, tokens: Tensor) -> Tensor:
        """New tokens (N, T_new) -> log-probabilities (N, V) after the last one."""
        seg, traced = self.model.config.segment_length, self.traced or {}
        for begin in range(0, tokens.shape[1], seg):
            out = self.model(
                tokens[:, begin : begin + seg],
                mems=self.mems,
                output_attentions="attentions" in traced,
                output_hidden_states="hidden_states" in traced,
            )
            self.mems = out.mems
        self._keep(attentions=out.attentions, hidden_states=out.hidden_states)  # of the last segment read
        return out.logits[:, -1]
