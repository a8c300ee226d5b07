"""``model.generate(...)``: Hugging Face's option names and semantics on the shared loops.

A generating model names its decoder state in ``decoding`` ("causal", "seq2seq" or "memory") and
provides what that state calls (see ``decoders.py``); the state, the loops (``search.py``) and the
processors live here in generation/, so no model file holds decoding logic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from . import decoders
from . import processors as P
from .config import GenerationConfig, refuse_moved_out, validate_options
from .search import beam_search, decode_steps
from .speculative import make_proposer, speculative_steps
from .stopping import MaxTime, StopStrings
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


OUTPUTS = ("output_scores", "output_logits", "output_attentions", "output_hidden_states", "return_dict_in_generate")


@dataclasses.dataclass
class _Plan:
    """Validated options, resolved against the model's defaults."""

    prompt: Tensor
    decoder: object
    loop: dict
    beams: dict
    num_beams: int
    do_sample: bool
    outputs: dict  # the OUTPUTS flags
    proposer: object | None = None  # prompt lookup or a draft model (speculative.py), or None


class GenerationMixin:
    """Adds ``generate`` and ``stream`` to a model with a ``decoding`` state and ``config`` token ids.

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
                callable, given each step's new tokens (B,); greedy and sampling only.
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
                sampling), cache_implementation ("dynamic" or "static"), use_cache;
                return_dict_in_generate with output_scores, output_logits, output_attentions,
                output_hidden_states (see ``GenerateOutput``).

        Returns:
            (B * num_return_sequences, L) ids, or a ``GenerateOutput``.
        """
        was_training = self.training
        self.eval()
        try:
            plan = self._plan_generation(input_ids, attention_mask, options)
            if plan.num_beams > 1 and streamer is not None:
                raise ValueError("streaming works with greedy search and sampling, not with beam search")
            out = self._search(plan, streamer)
        finally:
            self.train(was_training)
        if not plan.outputs.get("return_dict_in_generate"):
            return out.sequences
        if plan.outputs.get("output_attentions") or plan.outputs.get("output_hidden_states"):
            _attach_traces(self, out, plan, input_ids, attention_mask)
        return out

    def _search(self, plan: _Plan, streamer) -> GenerateOutput:
        """Run the loop the plan asks for; the sequences and what ``outputs`` keeps of each step."""
        flags = plan.outputs
        if plan.num_beams > 1:
            beams = beam_search(
                plan.decoder,
                plan.prompt,
                num_beams=plan.num_beams,
                do_sample=plan.do_sample,
                keep_steps=bool(flags.get("output_scores") or flags.get("output_logits")),
                **plan.loop,
                **plan.beams,
            )
            return GenerateOutput(
                beams.sequences,
                beams.sequence_scores if flags.get("output_scores") else None,
                tuple(beams.scores) if flags.get("output_scores") else None,
                tuple(beams.logits) if flags.get("output_logits") else None,
                beams.beam_indices,
            )
        sequences, scores, logits = plan.prompt, [], []
        if plan.proposer is not None:  # greedy search checking proposed tokens (speculative.py)
            steps = speculative_steps(
                plan.decoder, plan.prompt, proposer=plan.proposer, do_sample=plan.do_sample, **plan.loop
            )
        else:
            steps = decode_steps(plan.decoder, plan.prompt, do_sample=plan.do_sample, **plan.loop)
        for tokens, step_scores, so_far, step_logits in steps:
            sequences = so_far
            if flags.get("output_scores"):
                scores.append(step_scores)
            if flags.get("output_logits"):
                logits.append(step_logits)
            if streamer is not None:
                streamer.put(tokens) if hasattr(streamer, "put") else streamer(tokens)
        if streamer is not None and hasattr(streamer, "end"):
            streamer.end()
        return GenerateOutput(
            sequences,
            scores=tuple(scores) if flags.get("output_scores") else None,
            logits=tuple(logits) if flags.get("output_logits") else None,
        )

    @torch.no_grad()
    def stream_ids(self, input_ids: Tensor, attention_mask: Tensor | None = None, **options) -> Iterator[int]:
        """Generate for a single prompt and yield each new token id, stopping before EOS."""
        if input_ids.shape[0] != 1:
            raise ValueError(f"streaming takes one prompt, got a batch of {input_ids.shape[0]}; use generate()")
        was_training = self.training
        self.eval()
        try:
            plan = self._plan_generation(input_ids, attention_mask, options)
            if plan.num_beams > 1:
                raise ValueError("streaming works with greedy search and sampling, not with beam search")
            eos = set(plan.loop["eos_token_id"])
            for tokens, *_ in decode_steps(plan.decoder, plan.prompt, do_sample=plan.do_sample, **plan.loop):
                token = int(tokens[0])
                if token in eos:
                    return
                yield token
        finally:
            self.train(was_training)

    def stream(self, input_ids: Tensor, tokenizer, attention_mask: Tensor | None = None, **options) -> Iterator[str]:
        """Generate for a single prompt and yield text pieces as soon as they are final."""
        yield from stream_text(self.stream_ids(input_ids, attention_mask, **options), tokenizer)

    def _plan_generation(self, input_ids: Tensor, attention_mask: Tensor | None, o: dict) -> _Plan:
        """Check every option, build the processors and stopping criteria, expand for return sequences."""
        o = self.generation_config.merged(o)
        known = {
            "max_new_tokens",
            "max_length",
            "min_new_tokens",
            "min_length",
            "do_sample",
            "num_beams",
            "num_return_sequences",
            "temperature",
            "top_k",
            "top_p",
            "min_p",
            "typical_p",
            "repetition_penalty",
            "no_repeat_ngram_size",
            "bad_words_ids",
            "suppress_tokens",
            "length_penalty",
            "early_stopping",
            "eos_token_id",
            "pad_token_id",
            "bos_token_id",  # as in Hugging Face: used only to start an empty prompt, which einformer refuses
            "decoder_start_token_id",
            "logits_processor",
            "stopping_criteria",
            "stop_strings",
            "tokenizer",
            "max_time",
            "generator",
            "seed",
            "cache_implementation",
            "use_cache",
            "sequence_bias",
            "epsilon_cutoff",
            "eta_cutoff",
            "exponential_decay_length_penalty",
            "forced_bos_token_id",
            "forced_eos_token_id",
            "begin_suppress_tokens",
            "remove_invalid_values",
            "renormalize_logits",
            "guidance_scale",
            "negative_prompt_ids",
            "negative_prompt_attention_mask",
            *OUTPUTS,
            "prompt_lookup_num_tokens",
            "max_matching_ngram_size",
            "assistant_model",
            "num_assistant_tokens",
            "num_assistant_tokens_schedule",
            "assistant_confidence_threshold",
        }
        refuse_moved_out(o, "generate")
        unknown = sorted(set(o) - known)
        if unknown:
            raise ValueError(f"unknown generation option(s) {unknown}; known: {sorted(known)}")
        config = self.config
        eos = o.get("eos_token_id", getattr(config, "eos_token_id", None))
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        pad = o.get("pad_token_id", getattr(config, "pad_token_id", None))
        pad = (eos[0] if eos else 0) if pad is None else pad
        num_beams, n_return = o.get("num_beams", 1), o.get("num_return_sequences", 1)
        do_sample = o.get("do_sample", False)
        validate_options(o)
        prompt_len = decoders.prompt_length(self, input_ids)
        max_new = o.get("max_new_tokens")
        if max_new is None:
            max_new = o.get("max_length", 20) - prompt_len
            if max_new < 1:
                raise ValueError(
                    f"max_length={o.get('max_length', 20)} leaves no room after a prompt of "
                    f"{prompt_len} tokens; use max_new_tokens"
                )
        cache = o.get("cache_implementation", "dynamic") if o.get("use_cache", True) else "none"
        start = o.get("decoder_start_token_id")
        prompt, decoder = decoders.start(
            self, input_ids, attention_mask, cache, prompt_len + max_new, start_token=start
        )
        outputs = {name: bool(o.get(name, False)) for name in OUTPUTS}
        if outputs["output_attentions"] or outputs["output_hidden_states"]:
            if not outputs["return_dict_in_generate"]:
                raise ValueError("output_attentions / output_hidden_states need return_dict_in_generate=True")
            decoder.trace(outputs["output_attentions"], outputs["output_hidden_states"])
        if num_beams == 1 and n_return > 1:  # sampling several continuations per prompt
            index = torch.arange(prompt.shape[0], device=prompt.device).repeat_interleave(n_return)
            prompt = prompt.index_select(0, index)
            decoder.reorder(index)
        padding = None  # left padding of a decoder-only prompt is not "seen" by the repetition penalty
        if attention_mask is not None and self.decoding != "seq2seq":
            padding = (attention_mask != 0).int().argmax(dim=1)
        processors = _processors(
            o, eos, prompt.shape[1], prompt.shape[1] + max_new, do_sample, num_beams, padding, self
        )
        stopping = list(o.get("stopping_criteria") or [])
        if o.get("max_time") is not None:
            stopping.append(MaxTime(o["max_time"]))
        if o.get("stop_strings"):
            strings = [o["stop_strings"]] if isinstance(o["stop_strings"], str) else o["stop_strings"]
            stopping.append(StopStrings(strings, o.get("tokenizer"), prompt.shape[1]))
        generator = o.get("generator")
        if generator is None and o.get("seed") is not None:
            generator = torch.Generator(device=prompt.device).manual_seed(o["seed"])
        loop = dict(
            max_new_tokens=max_new,
            eos_token_id=eos or [-1],
            pad_token_id=pad,
            processors=processors,
            generator=generator,
            stopping=stopping,
        )
        beams = dict(
            length_penalty=o.get("length_penalty", 1.0),
            early_stopping=o.get("early_stopping", False),
            num_return_sequences=n_return,
        )
        proposer = make_proposer(self, o, num_beams, do_sample, input_ids, attention_mask)
        return _Plan(prompt, decoder, loop, beams, num_beams, do_sample, outputs, proposer)


def _processors(o: dict, eos: list[int], prompt_len: int, max_length: int, do_sample: bool, num_beams: int,
                padding: Tensor | None = None, model=None) -> list[Callable]:  # fmt: skip
    """Hugging Face's processors, in Hugging Face's order; warpers only when sampling; renormalisation last.

    ``prompt_len``: the length of what the loops start from (the prompt; BOS alone for seq2seq);
    ``max_length``: that plus the new tokens."""
    out: list[Callable] = []
    if o.get("guidance_scale") not in (None, 1, 1.0):
        if getattr(model, "decoding", None) != "causal":
            raise ValueError(
                "guidance_scale applies to decoder-only models (the unconditional branch re-reads a prompt); "
                f"{type(model).__name__} is not one"
            )
        ids, mask = o.get("negative_prompt_ids"), o.get("negative_prompt_attention_mask")
        out.append(P.ClassifierFreeGuidance(o["guidance_scale"], model, prompt_len, ids, mask))
    if o.get("sequence_bias"):
        out.append(P.SequenceBias(o["sequence_bias"]))
    if o.get("repetition_penalty", 1.0) != 1.0:
        out.append(P.RepetitionPenalty(o["repetition_penalty"], padding))
    if o.get("no_repeat_ngram_size", 0):
        out.append(P.NoRepeatNGram(o["no_repeat_ngram_size"]))
    if o.get("bad_words_ids"):
        out.append(P.BadWords(o["bad_words_ids"], eos))
    if o.get("min_length") and eos:
        out.append(P.MinLength(o["min_length"], eos))
    if o.get("min_new_tokens") and eos:
        out.append(P.MinLength(o["min_new_tokens"], eos, prompt_length=prompt_len))
    if o.get("forced_bos_token_id") is not None:
        out.append(P.ForcedFirst(o["forced_bos_token_id"]))
    if o.get("forced_eos_token_id") is not None:
        forced = o["forced_eos_token_id"]
        out.append(P.ForcedLast(max_length, [forced] if isinstance(forced, int) else list(forced)))
    if o.get("remove_invalid_values"):
        out.append(P.RemoveInvalid())
    if o.get("exponential_decay_length_penalty") is not None and eos:
        out.append(P.ExponentialDecayLength(o["exponential_decay_length_penalty"], eos, prompt_len))
    if o.get("suppress_tokens"):
        out.append(P.SuppressTokens(o["suppress_tokens"]))
    if o.get("begin_suppress_tokens"):
        begin = prompt_len + (1 if prompt_len == 1 and o.get("forced_bos_token_id") is not None else 0)
        out.append(P.SuppressAtBegin(o["begin_suppress_tokens"], begin))
    out += list(o.get("logits_processor") or [])
    if do_sample:
        keep = len(eos) + 1 if num_beams > 1 else 1  # beams must keep a non-EOS continuation
        if o.get("temperature", 1.0) != 1.0:
            out.append(P.Temperature(o["temperature"]))
        if o.get("top_k", 50):
            out.append(P.TopK(o.get("top_k", 50), keep))
        if o.get("top_p", 1.0) < 1.0:
            out.append(P.TopP(o["top_p"], keep))
        if o.get("min_p") is not None:
            out.append(P.MinP(o["min_p"], keep))
        if o.get("typical_p", 1.0) < 1.0:
            out.append(P.Typical(o["typical_p"], keep))
        if 0.0 < o.get("epsilon_cutoff", 0.0) < 1.0:
            out.append(P.EpsilonCutoff(o["epsilon_cutoff"], keep))
        if 0.0 < o.get("eta_cutoff", 0.0) < 1.0:
            out.append(P.EtaCutoff(o["eta_cutoff"], keep))
    if o.get("renormalize_logits"):
        out.append(P.Renormalize())
    return out


def _attach_traces(model, out: GenerateOutput, plan: _Plan, input_ids: Tensor, attention_mask: Tensor | None) -> None:
    """The decoder state's per-step attentions / hidden states, under Hugging Face's field names."""
    traced = plan.decoder.traced
    attentions, hidden = traced.get("attentions"), traced.get("hidden_states")
    if model.decoding != "seq2seq":
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
