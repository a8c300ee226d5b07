"""Planning a ``generate`` call: the caller's options over the model's ``GenerationConfig``, checked
once, then the decoder state, the processors, the stopping criteria and the loop's arguments.

The options travel as a typed ``GenerationConfig`` (its fields and their defaults are the one list of
what ``generate`` takes) plus the few objects a file cannot hold (``RUNTIME``: processors, criteria,
a tokenizer, a generator, a draft model, a negative prompt). So every default lives in one place,
config.py, and this file reads attributes, never a dict with a default repeated beside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import Tensor

from . import decoders
from . import processors as P
from .config import GenerationConfig, check_token_ids, refuse_moved_out
from .kinds import CausalLM, Seq2SeqLM
from .search import SAMPLERS
from .speculative import make_proposer
from .stopping import MaxTime, StopStrings

# what generate takes beside GenerationConfig's fields: objects, not settings
RUNTIME = (
    "logits_processor",
    "stopping_criteria",
    "tokenizer",
    "generator",
    "seed",
    "sampler",  # "inverse_cdf" (default) or "multinomial" (search.SAMPLERS)
    "assistant_model",
    "negative_prompt_ids",
    "negative_prompt_attention_mask",
)
FIELDS = frozenset(f.name for f in dataclasses.fields(GenerationConfig))


@dataclasses.dataclass
class Plan:
    """A checked generate call: where the loops start and with what."""

    prompt: Tensor
    decoder: object
    loop: dict
    beams: dict
    num_beams: int
    do_sample: bool
    options: GenerationConfig
    proposer: object | None = None  # prompt lookup or a draft model (speculative.py), or None
    sampler: object = None  # decode_steps' draw (search.SAMPLERS); beam sampling and proposals draw their own


def resolve(defaults: GenerationConfig, options: dict) -> tuple[GenerationConfig, dict]:
    """(the model's defaults under the caller's ``options`` as one checked config, the runtime objects)."""
    refuse_moved_out(options, "generate")
    known = FIELDS | set(RUNTIME)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown generation option(s) {unknown}; known: {sorted(known)}")
    settings = defaults.merged({k: v for k, v in options.items() if k in FIELDS})
    return GenerationConfig(**settings), {k: options[k] for k in RUNTIME if k in options}


def plan_generation(model, input_ids: Tensor, attention_mask: Tensor | None, options: dict) -> Plan:
    """Check every option, build the processors and stopping criteria, expand for return sequences."""
    o, runtime = resolve(model.generation_config, options)
    eos, pad = _token_id(o, options, model, "eos_token_id"), _token_id(o, options, model, "pad_token_id")
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    pad = (eos[0] if eos else 0) if pad is None else pad
    prompt_len = decoders.prompt_length(model, input_ids)
    max_new = o.max_new_tokens
    if max_new is None:
        max_length = 20 if o.max_length is None else o.max_length  # Hugging Face's default
        max_new = max_length - prompt_len
        if max_new < 1:
            raise ValueError(
                f"max_length={max_length} leaves no room after a prompt of {prompt_len} tokens; use max_new_tokens"
            )
    cache = (o.cache_implementation or "dynamic") if o.use_cache else "none"
    prompt, decoder = decoders.start(
        model, input_ids, attention_mask, cache, prompt_len + max_new, start_token=o.decoder_start_token_id
    )
    if o.output_attentions or o.output_hidden_states:
        if not o.return_dict_in_generate:
            raise ValueError("output_attentions / output_hidden_states need return_dict_in_generate=True")
        decoder.trace(o.output_attentions, o.output_hidden_states)
    if o.num_beams == 1 and o.num_return_sequences > 1:  # sampling several continuations per prompt
        index = torch.arange(prompt.shape[0], device=prompt.device).repeat_interleave(o.num_return_sequences)
        prompt = prompt.index_select(0, index)
        decoder.reorder(index)
    padding = None  # left padding of a decoder-only prompt is not "seen" by the repetition penalty
    if attention_mask is not None and not isinstance(model, Seq2SeqLM):
        padding = (attention_mask != 0).int().argmax(dim=1)
    length = prompt.shape[1]
    loop = dict(
        max_new_tokens=max_new,
        eos_token_id=eos or [-1],
        pad_token_id=pad,
        processors=processors(o, runtime, eos, length, length + max_new, padding, model),
        generator=_generator(runtime, prompt.device),
        stopping=_stopping(o, runtime, length),
    )
    beams = dict(
        length_penalty=o.length_penalty, early_stopping=o.early_stopping, num_return_sequences=o.num_return_sequences
    )
    proposer = make_proposer(model, o, runtime, input_ids, attention_mask)
    return Plan(prompt, decoder, loop, beams, o.num_beams, o.do_sample, o, proposer, _sampler(runtime))


def _token_id(o: GenerationConfig, options: dict, model, name: str):
    """The option, or the model config's id when neither the call nor the generation config sets it."""
    value = getattr(o, name)
    return value if value is not None or name in options else getattr(model.config, name, None)


def _sampler(runtime: dict):
    """How sampling draws a token: ``sample`` (inverse CDF, the default: fast, its own random stream)
    or ``multinomial`` (``torch.multinomial``, transformers' stream: the same tokens after the same seed)."""
    name = runtime.get("sampler") or "inverse_cdf"
    if name not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {name!r}")
    return SAMPLERS[name]


def _generator(runtime: dict, device) -> torch.Generator | None:
    """The caller's generator, or one seeded with ``seed`` (reproducible sampling)."""
    generator = runtime.get("generator")
    if generator is None and runtime.get("seed") is not None:
        generator = torch.Generator(device=device).manual_seed(runtime["seed"])
    return generator


def _stopping(o: GenerationConfig, runtime: dict, prompt_len: int) -> list:
    stopping = list(runtime.get("stopping_criteria") or [])
    if o.max_time is not None:
        stopping.append(MaxTime(o.max_time))
    if o.stop_strings:
        strings = [o.stop_strings] if isinstance(o.stop_strings, str) else o.stop_strings
        stopping.append(StopStrings(strings, runtime.get("tokenizer"), prompt_len))
    return stopping


def processors(o: GenerationConfig, runtime: dict, eos: list[int], prompt_len: int, max_length: int,
               padding: Tensor | None = None, model=None) -> list[Callable]:  # fmt: skip
    """Hugging Face's processors, in Hugging Face's order; warpers only when sampling; renormalisation last.

    ``prompt_len``: the length of what the loops start from (the prompt; BOS alone for seq2seq);
    ``max_length``: that plus the new tokens."""
    config = getattr(model, "config", None)
    check_token_ids(o, getattr(config, "vocab_size", None) or getattr(config, "tgt_vocab_size", None))
    out: list[Callable] = []
    if o.guidance_scale not in (None, 1, 1.0):
        if not isinstance(model, CausalLM):
            raise ValueError(
                "guidance_scale applies to decoder-only models (the unconditional branch re-reads a prompt); "
                f"{type(model).__name__} is not one"
            )
        ids, mask = runtime.get("negative_prompt_ids"), runtime.get("negative_prompt_attention_mask")
        out.append(P.ClassifierFreeGuidance(o.guidance_scale, model, prompt_len, ids, mask))
    if o.sequence_bias:
        out.append(P.SequenceBias(o.sequence_bias))
    if o.repetition_penalty != 1.0:
        out.append(P.RepetitionPenalty(o.repetition_penalty, padding))
    if o.no_repeat_ngram_size:
        out.append(P.NoRepeatNGram(o.no_repeat_ngram_size))
    if o.bad_words_ids:
        out.append(P.BadWords(o.bad_words_ids, eos))
    if o.min_length and eos:
        out.append(P.MinLength(o.min_length, eos))
    if o.min_new_tokens and eos:
        out.append(P.MinLength(o.min_new_tokens, eos, prompt_length=prompt_len))
    if o.forced_bos_token_id is not None:
        out.append(P.ForcedFirst(o.forced_bos_token_id))
    if o.forced_eos_token_id is not None:
        forced = o.forced_eos_token_id
        out.append(P.ForcedLast(max_length, [forced] if isinstance(forced, int) else list(forced)))
    if o.remove_invalid_values:
        out.append(P.RemoveInvalid())
    if o.exponential_decay_length_penalty is not None and eos:
        out.append(P.ExponentialDecayLength(o.exponential_decay_length_penalty, eos, prompt_len))
    if o.suppress_tokens:
        out.append(P.SuppressTokens(o.suppress_tokens))
    if o.begin_suppress_tokens:
        begin = prompt_len + (1 if prompt_len == 1 and o.forced_bos_token_id is not None else 0)
        out.append(P.SuppressAtBegin(o.begin_suppress_tokens, begin))
    out += list(runtime.get("logits_processor") or [])
    if o.do_sample:
        out += _warpers(o, keep=len(eos) + 1 if o.num_beams > 1 else 1)  # beams keep a non-EOS continuation
    if o.renormalize_logits:
        out.append(P.Renormalize())
    return out


def _warpers(o: GenerationConfig, keep: int) -> list[Callable]:
    """Sampling's processors: temperature, then the truncations that are on."""
    out: list[Callable] = []
    if o.temperature != 1.0:
        out.append(P.Temperature(o.temperature))
    if o.top_k:
        out.append(P.TopK(o.top_k, keep))
    if o.top_p < 1.0:
        out.append(P.TopP(o.top_p, keep))
    if o.min_p is not None:
        out.append(P.MinP(o.min_p, keep))
    if o.typical_p < 1.0:
        out.append(P.Typical(o.typical_p, keep))
    if 0.0 < o.epsilon_cutoff < 1.0:
        out.append(P.EpsilonCutoff(o.epsilon_cutoff, keep))
    if 0.0 < o.eta_cutoff < 1.0:
        out.append(P.EtaCutoff(o.eta_cutoff, keep))
    return out
