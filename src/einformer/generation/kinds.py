"""The contract between a model and generation: one base class per kind of decoder.

A model says what kind of decoder it is by subclassing one of these, and generation (``decoders.py``
builds the per-token state), the pipelines and the commands ask with ``isinstance``, never with a
string or ``hasattr``. Each class lists what the state calls; the model provides it.

* ``CausalLM``: a decoder-only model with a key/value cache (GPT, the Llama family). One forward
  serves the prompt, one new token and K proposed tokens:
  ``model(input_ids, attention_mask, kv_cache=cache, logits_to_keep=..., output_attentions=...,
  output_hidden_states=...)`` -> an output with ``logits`` (B, T, V); ``n_cached_layers`` layers are
  cached and ``max_context`` bounds the context (None: nothing does).
* ``Seq2SeqLM``: an encoder-decoder. ``encoder_states(input_ids, attention_mask)`` -> memory
  (B, S, D) once; then ``decode(decoder_input_ids, memory, memory_mask, cache=..., need_weights=...,
  hidden=...)`` -> (logits (B, T, V), (self weights, cross weights)) for the prompt, each new token
  and proposed tokens alike. ``supports_cache`` is False for a model that re-reads its prefix.
* ``MemoryLM``: Transformer-XL. ``model(input_ids, mems=...)`` -> ``logits`` and the new ``mems``;
  the prompt is read in segments of ``config.segment_length``.
"""

from __future__ import annotations


class CausalLM:
    """A decoder-only language model with a key/value cache (see the module docstring)."""

    kind = "causal"

    @property
    def n_cached_layers(self) -> int:
        raise NotImplementedError

    @property
    def max_context(self) -> int | None:
        """The most positions the model reads (a table of learned positions), or None where nothing
        bounds it (rotary positions: ``config.max_position`` is then the trained length, not a limit)."""
        return self.config.max_position


class Seq2SeqLM:
    """An encoder-decoder: memory once, then the decoder's forward per step (see the module docstring)."""

    kind = "seq2seq"
    supports_cache = True

    @property
    def n_cached_layers(self) -> int:
        raise NotImplementedError

    def encoder_states(self, input_ids, attention_mask=None):
        raise NotImplementedError

    def decode(self, decoder_input_ids, memory, memory_mask=None, *, cache=None, need_weights=False, hidden=None):
        raise NotImplementedError


class MemoryLM:
    """A language model that carries a memory of hidden states between segments (Transformer-XL)."""

    kind = "memory"


KINDS = (CausalLM, Seq2SeqLM, MemoryLM)


def kind_of(model) -> str | None:
    """ "causal", "seq2seq", "memory", or None for a model that does not generate."""
    for cls in KINDS:
        if isinstance(model, cls):
            return cls.kind
    return None
