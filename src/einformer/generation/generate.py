"""``model.generate(...)``: Hugging Face's option names and semantics on the shared loops.

A generating model subclasses one kind of ``kinds.py`` (``CausalLM``, ``Seq2SeqLM`` or ``MemoryLM``)
and provides what that kind's state calls (see ``decoders.py``); the state, the loops (``search.py``)
and the processors live here in generation/, so no model file holds decoding logic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch
from torch import Tensor

from ..nn.packed import trusting
from .config import GenerationConfig
from .kinds import Seq2SeqLM
from .planning import Plan, plan_generation
from .search import beam_search, decode_steps
from .speculative import speculative_steps
from .streaming import stream_text


@dataclasses.dataclass
class GenerateOutput:
    """What ``generate(..., return_dict_in_generate=True)`` returns, with Hugging Face's field names.

    ``sequences`` (N, L); beam search's ``sequences_scores`` (N,) (with ``output_scores``) and
    ``beam_indices`` (N, L_new). Per generated step, a tuple with one entry per step: ``scores`` the
    processed scores (N', V) and ``logits`` the raw ones (``output_logits``); with
    ``output_attentions`` / ``output_hidden_states``, ``attentions`` / ``hidden_states`` (decoder-only:
    a tuple per layer of (N', H, T_step, S_step) / (N', T_step, D)) or, for an encoder-decoder,
    ``encoder_attentions`` / ``encoder_hidden_states`` (once) and ``decoder_attentions``,
    ``cross_attentions``, ``decoder_hidden_states`` (per step). N' is the rows the loop ran:
    batch x beams in beam search.
    """

    sequences: Tensor
    sequences_scores: Tensor | None = None
    scores: tuple[Tensor, ...] | None = None
    logits: tuple[Tensor, ...] | None = None
    beam_indices: Tensor | None = None
    attentions: tuple | None = None
    hidden_states: tuple | None = None
    encoder_attentions: tuple | None = None
    encoder_hidden_states: tuple | None = None
    decoder_attentions: tuple | None = None
    cross_attentions: tuple | None = None
    decoder_hidden_states: tuple | None = None


class GenerationMixin:
    """Adds ``generate`` and ``stream`` to a model of one of ``kinds.py``'s kinds with ``config`` token ids.

    ``generation_config`` (a ``GenerationConfig``) holds the model's defaults; every option passed to
    ``generate`` overrides them."""

    @property
    def generation_config(self) -> GenerationConfig:
        if getattr(self, "_generation_config", None) is None:
            self._generation_config = GenerationConfig.from_model_config(self.config)
        return self._generation_config

    @generation_config.setter
    def generation_config(self, value: GenerationConfig) -> None:
        self._generation_config = value

    @torch.no_grad()
    def generate(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        *,
        streamer=None,
        **options,
    ) -> Tensor | GenerateOutput:
        """Greedy search, multinomial sampling, beam search or beam sampling.

        Args:
            input_ids: (B, S) prompt (decoder-only) or source (encoder-decoder) ids.
            attention_mask: (B, S), 1 = token, 0 = padding (left padding for decoder-only prompts).
            streamer: an object with ``put(tokens)`` / ``end()`` (Hugging Face's protocol) or a
                callable, given each step's new tokens (B,); greedy and sampling only. It must not
                change the model's weights (the loop checks them once: ``nn/packed.py``).
            **options: max_new_tokens, max_length, min_new_tokens, min_length, do_sample, num_beams,
                num_return_sequences, temperature, top_k (default 50, as HF), top_p, min_p,
                typical_p, epsilon_cutoff, eta_cutoff, repetition_penalty, no_repeat_ngram_size,
                bad_words_ids, sequence_bias, suppress_tokens, begin_suppress_tokens,
                forced_bos_token_id, forced_eos_token_id, exponential_decay_length_penalty,
                remove_invalid_values, renormalize_logits, guidance_scale (with negative_prompt_ids
                and negative_prompt_attention_mask), length_penalty, early_stopping
                (True/False/"never"), eos_token_id (int or list), pad_token_id (falls back to EOS),
                logits_processor (list of callables), stopping_criteria (list of callables),
                stop_strings with tokenizer, max_time (seconds), generator or seed (reproducible
                sampling), sampler ("inverse_cdf", the default, or "multinomial": transformers'
                random stream, the same tokens after the same ``torch.manual_seed``),
                cache_implementation ("dynamic" or "static"), use_cache;
                return_dict_in_generate with output_scores, output_logits, output_attentions,
                output_hidden_states (see ``GenerateOutput``).

        Returns:
            (B * num_return_sequences, L) ids, or a ``GenerateOutput``.
        """
        was_training = self.training
        self.eval()
        try:
            plan = plan_generation(self, input_ids, attention_mask, options)
            if plan.num_beams > 1 and streamer is not None:
                raise ValueError("streaming works with greedy search and sampling, not with beam search")
            out = self._search(plan, streamer)
        finally:
            self.train(was_training)
        if not plan.options.return_dict_in_generate:
            return out.sequences
        if plan.options.output_attentions or plan.options.output_hidden_states:
            _attach_traces(self, out, plan, input_ids, attention_mask)
        return out

    def _search(self, plan: Plan, streamer) -> GenerateOutput:
        """Run the loop the plan asks for; the sequences and what ``outputs`` keeps of each step."""
        flags = plan.options
        if plan.num_beams > 1:
            with trusting():  # the weights stay as they are while the loop runs (nn/packed.py)
                beams = beam_search(
                    plan.decoder,
                    plan.prompt,
                    num_beams=plan.num_beams,
                    do_sample=plan.do_sample,
                    keep_steps=bool(flags.output_scores or flags.output_logits),
                    **plan.loop,
                    **plan.beams,
                )
            return GenerateOutput(
                beams.sequences,
                beams.sequence_scores if flags.output_scores else None,
                tuple(beams.scores) if flags.output_scores else None,
                tuple(beams.logits) if flags.output_logits else None,
                beams.beam_indices,
            )
        sequences, scores, logits = plan.prompt, [], []
        if plan.proposer is not None:  # greedy search checking proposed tokens (speculative.py)
            steps = speculative_steps(
                plan.decoder, plan.prompt, proposer=plan.proposer, do_sample=plan.do_sample, **plan.loop
            )
        else:
            steps = decode_steps(plan.decoder, plan.prompt, do_sample=plan.do_sample, sampler=plan.sampler, **plan.loop)
        with trusting():  # the weights stay as they are while the loop runs (a streamer leaves them alone)
            for tokens, step_scores, so_far, step_logits in steps:
                sequences = so_far
                if flags.output_scores:
                    scores.append(step_scores)
                if flags.output_logits:
                    logits.append(step_logits)
                if streamer is not None:
                    streamer.put(tokens) if hasattr(streamer, "put") else streamer(tokens)
        if streamer is not None and hasattr(streamer, "end"):
            streamer.end()
        return GenerateOutput(
            sequences,
            scores=tuple(scores) if flags.output_scores else None,
            logits=tuple(logits) if flags.output_logits else None,
        )

    @torch.no_grad()
    def stream_ids(self, input_ids: Tensor, attention_mask: Tensor | None = None, **options) -> Iterator[int]:
        """Generate for a single prompt and yield each new token id, stopping before EOS."""
        if input_ids.shape[0] != 1:
            raise ValueError(f"streaming takes one prompt, got a batch of {input_ids.shape[0]}; use generate()")
        was_training = self.training
        self.eval()
        try:
            plan = plan_generation(self, input_ids, attention_mask, options)
            if plan.num_beams > 1:
                raise ValueError("streaming works with greedy search and sampling, not with beam search")
            eos = set(plan.loop["eos_token_id"])
            # no trusting(): the consumer holds each token and may change the weights before the next
            steps = decode_steps(plan.decoder, plan.prompt, do_sample=plan.do_sample, sampler=plan.sampler, **plan.loop)
            for tokens, *_ in steps:
                token = int(tokens[0])
                if token in eos:
                    return
                yield token
        finally:
            self.train(was_training)

    def stream(self, input_ids: Tensor, tokenizer, attention_mask: Tensor | None = None, **options) -> Iterator[str]:
        """Generate for a single prompt and yield text pieces as soon as they are final."""
        yield from stream_text(self.stream_ids(input_ids, attention_mask, **options), tokenizer)


def _attach_traces(model, out: GenerateOutput, plan: Plan, input_ids: Tensor, attention_mask: Tensor | None) -> None:
    """The decoder state's per-step attentions / hidden states, under Hugging Face's field names."""
    traced = plan.decoder.traced
    attentions, hidden = traced.get("attentions"), traced.get("hidden_states")
    if not isinstance(model, Seq2SeqLM):
        out.attentions = None if attentions is None else tuple(attentions)
        out.hidden_states = None if hidden is None else tuple(hidden)
        return
    if attentions is not None:
        out.decoder_attentions = tuple(self_w for self_w, _ in attentions)
        out.cross_attentions = tuple(cross_w for _, cross_w in attentions)
    out.decoder_hidden_states = None if hidden is None else tuple(hidden)
    if not hasattr(model, "encode"):
        return
    states: list | None = [] if hidden is not None else None  # the encoder once more, keeping its internals
    _, weights = model.encode(input_ids, attention_mask, need_weights=attentions is not None, hidden=states)
    out.encoder_attentions = weights
    out.encoder_hidden_states = None if states is None else tuple(states)
