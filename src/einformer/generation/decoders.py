"""Decoder state: what a model carries from one generated token to the next, owned here.

The loops in ``search.py`` see a decoder as ``step(tokens) -> logits`` and ``reorder(index)``.
Three states serve every einformer model; a model names the one it needs in ``decoding``:

* ``"causal"``, ``CausalState`` (GPT): the prompt goes through ``model(ids, mask, kv_cache=...)``;
  each later token through ``model.step`` (one position per row, the lean path of ``nn/layer.py``),
  with the weights prepared by ``model.step_weights`` (kept for the next call: ``prepared_weights``).
* ``"seq2seq"``, ``Seq2SeqState`` (the encoder-decoder, the Universal Transformer): the source is
  encoded once (``model.encoder_states``); the decoder starts from BOS with an
  ``EncoderDecoderCache`` (the first call fills the cross-attention caches) and steps with
  ``model.step``. A model without a cache (``supports_cache = False``: the Universal Transformer)
  re-reads its prefix every step.
* ``"memory"``, ``MemoryState`` (Transformer-XL): the prompt is read in segments into the memory,
  then each token is a segment of one. Its attention keys are recomputed from the memory states
  (relative positions shift with every new token), so it has no key/value cache and no ``step``.

Without a cache (``use_cache=False``) every state re-runs the whole prefix: ``DecoderState.inputs``
is the one place that does it, and ``DecoderState.reorder`` the one place that follows beams.

``trace(attentions, hidden_states)`` asks a state to keep, for every step, the attention weights
and hidden states of the model call that made the step's logits (Hugging Face's
``output_attentions`` / ``output_hidden_states`` in ``generate``); the state then runs the regular
forward (the einsum attention path), not ``model.step``.
"""

from __future__ import annotations

import weakref

import torch
from torch import Tensor

from ..nn.kv_cache import DynamicCache, EncoderDecoderCache, StaticCache
from ..nn.packed import PACK_MIN_ROWS


def prompt_length(model, input_ids: Tensor) -> int:
    """Tokens that count as already generated: the prompt (decoder-only), or BOS alone (seq2seq)."""
    return 1 if model.decoding == "seq2seq" else input_ids.shape[1]


def start(
    model, input_ids: Tensor, attention_mask: Tensor | None, cache: str, max_length: int, *, fast=True, start_token=None
):
    """(the prompt the loops extend (B, P), the decoder state) for ``model``.

    Args:
        cache: "dynamic", "static" or "none" (re-run the prefix every step).
        max_length: prompt + new tokens (the static cache's size).
        fast: take ``model.step`` for single new tokens when the model has one (False: the regular
            forward every step, the path ``step`` is tested and benchmarked against).
        start_token: the seq2seq decoder's first token (default: the model's BOS).
    """
    kind = getattr(model, "decoding", None)
    if kind == "causal":
        return input_ids, CausalState(model, attention_mask, cache, max_length, fast=fast)
    if kind == "seq2seq":
        memory = model.encoder_states(input_ids, attention_mask)
        first = model.config.bos_token_id if start_token is None else start_token
        bos = torch.full((input_ids.shape[0], 1), first, dtype=torch.long, device=input_ids.device)
        return bos, Seq2SeqState(model, memory, attention_mask, cache, max_length, fast=fast)
    if kind == "memory":
        return input_ids, MemoryState(model, attention_mask)
    raise ValueError(f"{type(model).__name__} does not generate (it names no decoding state)")


_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (key, its step weights)


def prepared_weights(model, rows: int) -> dict:
    """``model.step_weights(rows)``, kept for later generate calls while the model's parameters are
    the same tensors at the same version: packing the 6 x 384 GPT's weights took about 25 ms, a
    sixth of an assisted generate call of 96 tokens (docs/generation.md). An optimizer step,
    ``load_state_dict``, ``.to()`` or an in-place edit under ``torch.no_grad()`` makes new ones; an
    edit through ``param.data`` escapes torch's version counter, so call ``release_weights(model)``
    after one. Kept beside the model (a weak reference), not on it: copying or pickling the model is
    unaffected, and the copies go with the model."""
    key = (max(PACK_MIN_ROWS, rows), tuple((p.data_ptr(), p._version) for p in model.parameters()))
    kept = _PREPARED.get(model)
    if kept is not None and kept[0] == key:
        return kept[1]
    weights = model.step_weights(rows=rows)
    _PREPARED[model] = (key, weights)  # one set per model: the packed copies cost the weights' size
    return weights


def release_weights(model) -> None:
    """Drop the step weights kept for ``model`` (their memory; the next generate call packs again)."""
    _PREPARED.pop(model, None)


def new_cache(kind: str, n_layers: int, max_length: int) -> DynamicCache | StaticCache | None:
    if kind == "none":
        return None
    return StaticCache(n_layers, max_length) if kind == "static" else DynamicCache(n_layers)


class DecoderState:
    """What every state shares: the prefix (without a cache) and following the beams.

    Subclasses list in ``batched`` the attributes whose rows are batch rows (tensors or tuples of
    tensors), which ``reorder`` selects along with the cache.
    """

    batched: tuple[str, ...] = ()

    def __init__(self, cache) -> None:
        self.cache = cache
        self.prefix: Tensor | None = None  # every token so far, kept only without a cache
        self.started = False
        self.weights = None  # ``model.step_weights``, prepared at the first single-token step
        self.fast = False  # subclasses that can call ``model.step`` say so
        self.traced: dict[str, list] | None = None  # per-step attentions / hidden states, when asked

    def trace(self, attentions: bool, hidden_states: bool) -> None:
        """Keep each step's attention weights and/or hidden states in ``traced`` (regular forward)."""
        self.traced = {name: [] for name, on in (("attentions", attentions), ("hidden_states", hidden_states)) if on}
        self.fast = False

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

    def step_weights(self, rows: int) -> dict:
        """The model's step weights for ``rows`` rows, fetched at the first step that needs them."""
        if self.weights is None:
            self.weights = prepared_weights(self.model, rows)
        return self.weights

    def use_step(self, tokens: Tensor, first: bool) -> bool:
        """A single new token after the first call, with a cache and a model that has ``step``."""
        return self.fast and not first and tokens.shape[1] == 1

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
        if max_length > model.config.max_position:
            raise ValueError(
                f"prompt + new tokens = {max_length} exceed the context of max_position="
                f"{model.config.max_position}; lower max_new_tokens or shorten the prompt"
            )
        super().__init__(new_cache(cache, model.n_cached_layers, max_length))
        self.model, self.mask = model, attention_mask
        self.fast = fast and self.cache is not None and hasattr(model, "step")

    def verify(self, tokens: Tensor) -> Tensor:
        """Several new tokens (N, T_new) at once -> the logits (N, T_new, V) after each one; the cache
        keeps them all until ``rollback`` (prompt-lookup decoding checks proposals this way)."""
        if self.cache is None:
            raise ValueError("checking proposed tokens needs a key/value cache (use_cache=True)")
        self._extend_mask(tokens)
        self.started = True
        if self.fast:  # the packed single-token weights, T rows per sequence
            return self.model.step(tokens, self.cache, self.mask, self.step_weights(tokens.shape[0]))
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
        first, self.started = not self.started, True
        if self.fast and not first:  # one token, or a few after a rollback (a draft catching up)
            weights = self.step_weights(tokens.shape[0])
            if tokens.shape[1] > 1:
                return self.model.step(tokens, self.cache, self.mask, weights)[:, -1]
            return self.model.step(tokens[:, 0], self.cache, self.mask, weights)
        traced = self.traced or {}
        out = self.model(
            self.inputs(tokens),
            self.mask,
            kv_cache=self.cache,
            output_attentions="attentions" in traced,
            output_hidden_states="hidden_states" in traced,
            logits_to_keep=1,  # the prompt pass needs the last position's logits only
        )
        self._keep(attentions=out.attentions, hidden_states=out.hidden_states)
        return out.logits[:, -1]


class Seq2SeqState(DecoderState):
    """An encoder-decoder: the encoder's memory and its mask, and the decoder's caches (or none)."""

    batched = ("memory", "memory_mask", "keep")

    def __init__(self, model, memory: Tensor, memory_mask: Tensor | None, cache: str, max_length: int, *, fast=True):
        n_layers = model.n_cached_layers
        caches = model.supports_cache and cache != "none"
        super().__init__(EncoderDecoderCache(new_cache(cache, n_layers, max_length)) if caches else None)
        self.model, self.memory, self.memory_mask = model, memory, memory_mask
        padded = memory_mask is not None and not bool(memory_mask.all())
        self.keep = (memory_mask != 0)[:, None, None, :] if padded else None  # (B, 1, 1, S) for model.step
        self.fast = fast and self.cache is not None and hasattr(model, "step")

    def verify(self, tokens: Tensor) -> Tensor:
        """Several new target tokens (N, T_new) at once -> the logits (N, T_new, V) after each one; the
        self-attention caches keep them all until ``rollback`` (as ``CausalState.verify``)."""
        if self.cache is None:
            raise ValueError("checking proposed tokens needs a key/value cache (use_cache=True)")
        first, self.started = not self.started, True
        if self.fast and not first:  # the packed single-token weights, T rows per sequence
            return self.model.step(tokens, self.cache, self.keep, self.step_weights(tokens.shape[0]))
        return self.model.decode(tokens, self.memory, self.memory_mask, cache=self.cache)[0]

    def rollback(self, length: int) -> None:
        """Keep the first ``length`` target positions (the cross-attention caches stay)."""
        self.cache.crop(length)

    def step(self, tokens: Tensor) -> Tensor:
        """New target tokens (N, T_new) -> logits (N, V) of the last one."""
        first, self.started = not self.started, True
        if self.use_step(tokens, first):
            return self.model.step(tokens[:, 0], self.cache, self.keep, self.step_weights(tokens.shape[0]))
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
        super().__init__(None)
        self.model, self.mems = model, None

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
