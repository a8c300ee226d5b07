"""``GenerationConfig``: a model's default generation options, with Hugging Face's field names, read
from and written to ``generation_config.json``.

``model.generation_config`` holds them (built from the model's config when the directory has none);
``model.generate(**options)`` starts from them and lets every option passed override. A file that
sets an option einformer's generate does not implement is refused by name instead of being ignored,
and the values are checked as ``generate`` checks its arguments.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from ..checkpoint import read_json, write_json
from ..validation import drop_out_of_vocabulary, field_types, json_type_ok, type_name

CONFIG_NAME = "generation_config.json"
# keys of Hugging Face's file that carry no generation option
METADATA = ("_from_model_config", "transformers_version", "_commit_hash", "generation_kwargs")
# decoding methods Hugging Face moved out of transformers (to custom generation code on its Hub):
# out of einformer's scope too, each named when asked for
MOVED_OUT = {
    "penalty_alpha": "contrastive search",
    "num_beam_groups": "group (diverse) beam search",
    "diversity_penalty": "group (diverse) beam search",
    "constraints": "constrained beam search",
    "force_words_ids": "constrained beam search",
}
# values that mean "off" for the options einformer does not implement (penalty 1.0, groups 1, ...)
CACHES = ("dynamic", "static")
OFF_VALUES = (None, False, 0, 0.0, 1, 1.0, [], {}, "")


@dataclasses.dataclass
class GenerationConfig:
    """Defaults for ``generate``; None and the dataclass defaults mean "not set"."""

    max_new_tokens: int | None = None
    max_length: int | None = None
    min_new_tokens: int | None = None
    min_length: int | None = None
    do_sample: bool = False
    num_beams: int = 1
    num_return_sequences: int = 1
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    min_p: float | None = None
    typical_p: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    bad_words_ids: list | None = None
    suppress_tokens: list | None = None
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    bos_token_id: int | None = None
    eos_token_id: int | list | None = None
    pad_token_id: int | None = None
    decoder_start_token_id: int | None = None
    use_cache: bool = True
    cache_implementation: str | None = None
    max_time: float | None = None
    stop_strings: str | list | None = None
    sequence_bias: dict | list | None = None  # {(ids...): bias}; JSON: [[[ids...], bias], ...]
    epsilon_cutoff: float = 0.0
    eta_cutoff: float = 0.0
    exponential_decay_length_penalty: tuple | list | None = None  # (start, factor)
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | list | None = None
    begin_suppress_tokens: list | None = None
    remove_invalid_values: bool = False
    renormalize_logits: bool = False
    guidance_scale: float | None = None
    output_scores: bool = False
    output_logits: bool = False
    output_attentions: bool = False
    output_hidden_states: bool = False
    return_dict_in_generate: bool = False
    prompt_lookup_num_tokens: int | None = None
    max_matching_ngram_size: int | None = None
    num_assistant_tokens: int | None = None
    num_assistant_tokens_schedule: str | None = None
    assistant_confidence_threshold: float | None = 0.4  # transformers' default; None or 0: no early stop

    def __post_init__(self) -> None:
        validate_options(self.to_options())

    @classmethod
    def from_model_config(cls, config) -> GenerationConfig:
        """The token ids a model config names (bos, eos, pad), everything else at its default."""
        ids = {k: getattr(config, k, None) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
        return cls(**ids)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = CONFIG_NAME) -> GenerationConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        refuse_moved_out(data, source)
        unsupported = sorted(
            f"{k}={v!r}" for k, v in data.items() if k not in names and k not in METADATA and v not in OFF_VALUES
        )
        if unsupported:
            raise ValueError(
                f"{source} sets {', '.join(unsupported)}, which einformer's generate does not implement; remove "
                "them or set them to their default"
            )
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except (ValueError, TypeError) as e:
            raise ValueError(f"{source}: {e}") from None

    @classmethod
    def from_pretrained(cls, directory: str | Path, vocab_size: int | None = None) -> GenerationConfig:
        """``directory``'s generation_config.json; with ``vocab_size``, a bos/eos/pad id outside the
        vocabulary is dropped with a warning (transformers loads it and warns)."""
        path = Path(directory) / CONFIG_NAME
        data = read_json(path, "generation config")
        if vocab_size is not None:
            data = drop_out_of_vocabulary(data, vocab_size, ("bos_token_id", "eos_token_id", "pad_token_id"), str(path))
        return cls.from_dict(data, str(path))

    def to_options(self) -> dict[str, Any]:
        """The options this config sets: the fields that differ from the defaults."""
        defaults = GenerationConfig.__dataclass_fields__
        return {
            f: getattr(self, f) for f, spec in defaults.items() if getattr(self, f) != spec.default and f != "use_cache"
        } | ({"use_cache": False} if not self.use_cache else {})

    def save_pretrained(self, directory: str | Path) -> Path:
        """generation_config.json with the options set (Hugging Face's GenerationConfig reads it)."""
        options = self.to_options()
        if isinstance(options.get("sequence_bias"), dict):  # tuple keys: Hugging Face's list form in JSON
            options["sequence_bias"] = [[list(ids), bias] for ids, bias in options["sequence_bias"].items()]
        write_json(Path(directory) / CONFIG_NAME, options)
        return Path(directory)

    def merged(self, options: dict[str, Any]) -> dict[str, Any]:
        """These defaults under the caller's ``options``; a length given either way replaces both of ours."""
        base = self.to_options()
        if "max_new_tokens" in options or "max_length" in options:
            base.pop("max_new_tokens", None)
            base.pop("max_length", None)
        return {**base, **options}


def refuse_moved_out(options: dict, source: str) -> None:
    """An option of a decoding method Hugging Face moved out of transformers: a clear error saying so."""
    asked = sorted(k for k, v in options.items() if k in MOVED_OUT and v not in OFF_VALUES)
    if asked:
        methods = sorted({MOVED_OUT[k] for k in asked})
        raise ValueError(
            f"{source}: {', '.join(asked)} asks for {' and '.join(methods)}, which Hugging Face moved out of "
            "transformers (to custom generation code) and einformer does not implement; use beam search or sampling"
        )


def _scalar_fields() -> set[str]:
    """The fields whose values are numbers, booleans or strings (the lists have their own checks)."""
    plain = (int, float, bool, str, type(None))
    return {
        name
        for name, hint in field_types(GenerationConfig).items()
        if all(h in plain for h in (typing.get_args(hint) or (hint,)))
    }


def validate_options(o: dict) -> None:
    """Reject impossible options with the fix in the message (``generate``'s and ``GenerationConfig``'s)."""
    hints = field_types(GenerationConfig)
    for name, value in o.items():  # scalar types first: "hot" or 1e9 never reaches a comparison or an allocation
        if name in SCALAR and value is not None and not json_type_ok(value, hints[name]):
            raise ValueError(f"{name}={value!r} must be {type_name(hints[name])} ({type(value).__name__} given)")
    num_beams, n_return, do_sample = o.get("num_beams", 1), o.get("num_return_sequences", 1), o.get("do_sample", False)
    if num_beams < 1:
        raise ValueError(f"num_beams must be >= 1, got {num_beams}")
    if n_return < 1 or (num_beams > 1 and n_return > num_beams):
        raise ValueError(
            f"num_return_sequences={n_return} must be between 1 and num_beams={num_beams}; "
            "raise num_beams or lower num_return_sequences"
        )
    if num_beams == 1 and n_return > 1 and not do_sample:
        raise ValueError(
            "greedy search returns one sequence per prompt; set do_sample=True or num_beams > 1 "
            "for num_return_sequences > 1"
        )
    if o.get("early_stopping", False) not in (True, False, "never"):
        raise ValueError(f"early_stopping must be True, False or 'never', got {o['early_stopping']!r}")
    if o.get("cache_implementation", "dynamic") not in CACHES:
        raise ValueError(f"cache_implementation must be one of {CACHES}, got {o['cache_implementation']!r}")
    if o.get("max_new_tokens") is not None and o["max_new_tokens"] < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {o['max_new_tokens']}")
    if o.get("max_new_tokens") is not None and o.get("max_length") is not None:
        raise ValueError("give max_new_tokens or max_length, not both")
    checks = [
        ("temperature", lambda v: v > 0, "must be > 0 (use do_sample=False for greedy decoding)"),
        ("top_p", lambda v: 0 < v <= 1, "must be in (0, 1]"),
        ("top_k", lambda v: v >= 0, "must be >= 0 (0 = off)"),
        ("min_p", lambda v: 0 <= v <= 1, "must be in [0, 1]"),
        ("typical_p", lambda v: 0 < v <= 1, "must be in (0, 1]"),
        ("repetition_penalty", lambda v: v > 0, "must be > 0 (1 = off)"),
        ("no_repeat_ngram_size", lambda v: v >= 0, "must be >= 0 (0 = off)"),
        ("max_time", lambda v: v > 0, "must be > 0 seconds"),
        ("min_new_tokens", lambda v: v >= 0, "must be >= 0"),
        ("epsilon_cutoff", lambda v: 0 <= v < 1, "must be in [0, 1) (0 = off; the paper suggests 3e-4 to 9e-4)"),
        ("eta_cutoff", lambda v: 0 <= v < 1, "must be in [0, 1) (0 = off; the paper suggests 3e-4 to 4e-3)"),
    ]
    for name, ok, message in checks:
        if o.get(name) is not None and not ok(o[name]):
            raise ValueError(f"{name}={o[name]} {message}")
    _check_structured(o)


def _check_structured(o: dict) -> None:
    """The options whose values are lists or pairs: their shape, with the expected form in the message."""
    decay = o.get("exponential_decay_length_penalty")
    if decay is not None and not (
        isinstance(decay, list | tuple) and len(decay) == 2 and isinstance(decay[0], int) and decay[0] >= 0
        and isinstance(decay[1], int | float) and decay[1] > 0
    ):  # fmt: skip
        raise ValueError(f"exponential_decay_length_penalty={decay!r} must be (start index >= 0, decay factor > 0)")
    bias = o.get("sequence_bias")
    if bias is not None:
        pairs = list(bias.items()) if isinstance(bias, dict) else bias
        ok = isinstance(pairs, list) and pairs and all(
            isinstance(pair, list | tuple) and len(pair) == 2 and isinstance(pair[0], list | tuple) and pair[0]
            and all(isinstance(i, int) and i >= 0 for i in pair[0]) and isinstance(pair[1], int | float)
            for pair in pairs
        )  # fmt: skip
        if not ok:
            raise ValueError(
                f"sequence_bias={bias!r} must map token-id sequences to biases: {{(12, 7): -2.0}}, or "
                "[[[12, 7], -2.0]] as in generation_config.json"
            )
    for name in ("begin_suppress_tokens", "suppress_tokens"):
        tokens = o.get(name)
        if tokens is not None and not (isinstance(tokens, list | tuple) and all(isinstance(i, int) for i in tokens)):
            raise ValueError(f"{name}={tokens!r} must be a list of token ids")
    scale = o.get("guidance_scale")
    if scale is not None and not isinstance(scale, int | float):
        raise ValueError(f"guidance_scale={scale!r} must be a number (1 = off, > 1 follows the prompt more)")


def check_token_ids(o: GenerationConfig, vocab_size: int | None) -> None:
    """The token ids the options name (bad words, suppressed, forced, biased) lie in the model's
    vocabulary; an id outside it is a ValueError naming the option (instead of an IndexError mid-loop)."""
    if not vocab_size:
        return
    named = {
        "bad_words_ids": [
            i for word in o.bad_words_ids or [] for i in (word if isinstance(word, list | tuple) else [word])
        ],
        "suppress_tokens": list(o.suppress_tokens or []),
        "begin_suppress_tokens": list(o.begin_suppress_tokens or []),
        "forced_bos_token_id": [] if o.forced_bos_token_id is None else [o.forced_bos_token_id],
        "forced_eos_token_id": [o.forced_eos_token_id]
        if isinstance(o.forced_eos_token_id, int)
        else list(o.forced_eos_token_id or []),
    }
    for name, ids in named.items():
        bad = [i for i in ids if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < vocab_size]
        if bad:
            raise ValueError(
                f"{name} names token id(s) {bad[:8]} outside the model's vocabulary of {vocab_size}; "
                "fix generation_config.json (or the option)"
            )


SCALAR = _scalar_fields()
