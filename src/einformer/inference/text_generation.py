"""Text generation with a language model: prompts in, completions out, batched or streamed.

The options are ``generate``'s (``generation/config.py``), over the model's own generation_config
as transformers follows it: greedy unless it asks for sampling. Runs that einformer trains write
their wish to sample there (``sampling_by_default``, at training time); ``einformer generate`` adds
nothing of its own but a length: without one anywhere, 200 new tokens.

How far a model reads decides how long a completion can be:

* a ``CausalLM`` with absolute positions (GPT: a table of ``max_position`` learned positions) reads
  at most its context. A prompt plus ``max_new_tokens`` past it is refused, naming the numbers and
  the fixes, as ``model.generate`` refuses it. ``sliding_window=True`` is the named opt-in to go on
  in windows, each re-reading the last half-context of tokens as its prompt (nanoGPT's: exact
  within a window, an approximation across windows);
* a ``CausalLM`` with rotary positions (the Llama family: ``max_context`` None) has no table to run
  past and generates whole, as in transformers (``sliding_window`` changes nothing there; Mistral's
  attention window is the model's own and stays exact);
* a ``MemoryLM`` (Transformer-XL) carries the context in its memory: no window, one prompt at a time.

``num_return_sequences=n`` gives n completions per prompt as one flat list grouped per prompt (the
n of prompt 0 first), as transformers' generate orders its rows.

A chat's prompt is different: the conversation through the chat template, given as ids
(``inference/chat.py``). ``reply`` / ``stream_reply`` continue it whole (a conversation past the
context is an error, not a window) and leave special tokens out of the text, as transformers'
pipeline does for messages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch

from ..auto import Loaded
from ..generation.config import GenerationConfig
from ..generation.kinds import CausalLM, MemoryLM
from ..generation.stopping import StopStrings
from ..generation.streaming import stream_text
from ..training.run_info import LanguageModelRunInfo

# what a run einformer trains writes into its generation_config.json (``sampling_by_default``)
SAMPLING_DEFAULTS = {"do_sample": True, "temperature": 0.8, "top_k": 50}
DEFAULT_MAX_NEW_TOKENS = 200  # without a length in the call or the generation config (or what the context holds)
TOKEN_IDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")
LENGTHS = ("max_new_tokens", "max_length")


@dataclasses.dataclass
class TextGenerator:
    """A language model with its tokenizer, on text: ``generate``, ``stream``, ``encode``, ``decode``."""

    model: CausalLM | MemoryLM
    tokenizer: object  # einformer's Tokenizer, a GPT2Tokenizer or a Transformer-XL word vocabulary
    info: LanguageModelRunInfo | None = None  # the training run behind it; None for a model directory

    @classmethod
    def from_loaded(cls, loaded: Loaded, command: str = "this command"):
        """The language model ``loaded`` holds; a clear error for any other model or run."""
        loaded.expect_kind(command, CausalLM, MemoryLM)
        if loaded.run is not None and loaded.run.kind != LanguageModelRunInfo.kind:
            raise ValueError(f"{command} needs a language model; {loaded.path} holds a {loaded.run.kind} run")
        return cls(loaded.model, loaded.require_tokenizer(command), loaded.run)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    def generate(self, prompts: list[str], *, sliding_window: bool = False, token_ids: bool = False, **options) -> list:
        """The completions of ``prompts`` (texts, or lists of ids already encoded):
        ``len(prompts) * num_return_sequences`` texts, grouped per prompt in order. ``options``: generate's
        (max_new_tokens, do_sample, num_beams, stop_strings ...); ``sliding_window``: go past an
        absolute-position model's context in windows (module docstring); ``token_ids``: each sequence's ids
        instead, the prompt's included (``sequences``)."""
        return list(generate_text(self, prompts, sliding_window=sliding_window, token_ids=token_ids, **options))

    def stream(self, prompt: str, *, sliding_window: bool = False, **options) -> Iterator[str]:
        """Pieces of the completion of ``prompt`` as they are produced (each final: whole characters)."""
        return generate_text(self, [prompt], stream=True, sliding_window=sliding_window, **options)

    def streams(self, options: dict) -> bool:
        """Can ``stream`` run with ``options`` over the generation config: one sequence, no beams?"""
        config = {**self.model.generation_config.to_options(), **{k: v for k, v in options.items() if v is not None}}
        return config.get("num_beams", 1) == 1 and config.get("num_return_sequences", 1) == 1

    def reply(self, ids: list[int], **options) -> str:
        """The continuation of one prompt given as ids (a chat's templated prompt, ``inference/chat.py``):
        whole, never windowed; up to the first EOS, special tokens left out of the text."""
        return self.tokenizer.decode(reply_ids(self, ids, options), skip_special_tokens=True)

    def replies(self, ids: list[int], *, token_ids: bool = False, **options) -> list:
        """``reply`` for each of ``num_return_sequences`` sequences, cut at the first EOS or stop string
        (transformers' pipeline on a conversation); with ``token_ids`` each sequence's ids (``sequences``)."""
        options = dict(options)
        if options.get("stop_strings"):
            options.setdefault("tokenizer", self.tokenizer)  # the stopping criterion decodes with it
        total = _fits_context(self, len(ids), options)
        out = self.model.generate(torch.tensor([ids], device=_device(self.model)), max_new_tokens=total, **options)
        rows, ends = out[:, len(ids) :].tolist(), _Ends(self, options)  # (n, new) ids
        if token_ids:
            return sequences([ids], rows, ends)
        return [self.tokenizer.decode(ends.cut(row)[0], skip_special_tokens=True) for row in rows]

    def stream_reply(self, ids: list[int], **options) -> Iterator[str]:
        """``reply``, as text pieces while the tokens come (each final: whole characters)."""
        total = _fits_context(self, len(ids), options)
        tokens = self.model.stream_ids(torch.tensor([ids]), max_new_tokens=total, **options)
        return stream_text(tokens, _SkippingSpecial(self.tokenizer))


def sampling_by_default(config: GenerationConfig) -> GenerationConfig:
    """``config`` with ``SAMPLING_DEFAULTS`` added when it sets no decoding option (only token ids and
    lengths): what a run einformer trains writes, so its generation samples as it always did, while a
    config that chose (greedy, beams, other sampling settings) keeps its choice."""
    return GenerationConfig(**{**config.to_options(), **SAMPLING_DEFAULTS}) if sets_no_strategy(config) else config


def sets_no_strategy(config: GenerationConfig) -> bool:
    """Does ``config`` leave the decoding strategy at transformers' default (greedy search)?"""
    return not set(config.to_options()) - {*TOKEN_IDS, *LENGTHS}


def generation_note(run: TextGenerator, options: dict) -> str | None:
    """A word for a training run whose generation_config.json sets no decoding strategy (one trained
    before runs wrote ``SAMPLING_DEFAULTS`` there), when the call does not choose one either: such a
    run now decodes greedily, as transformers would, where ``einformer generate`` used to sample."""
    if run.info is None or not sets_no_strategy(run.model.generation_config):
        return None
    if {"do_sample", "num_beams"} & set(options):  # the call chose
        return None
    return (
        "this run's generation_config.json sets no decoding strategy, so this is greedy search (as in "
        "transformers); runs trained before December 2026 sampled here by default: add "
        "--do-sample --temperature 0.8 --top-k 50 for that, or put those options into its generation_config.json"
    )


def generate_text(
    run: TextGenerator,
    prompts: list[str],
    *,
    stream: bool = False,
    sliding_window: bool = False,
    token_ids: bool = False,
    **options,
) -> Iterator:
    """Completions of ``prompts``, texts or lists of ids (left-padded into one batch;
    ``num_return_sequences`` per prompt, grouped per prompt); with ``stream`` (one prompt, one sequence)
    text pieces as they come. The prompts and the length are checked here, before the first token (a
    refusal comes before any text)."""
    tok, options = run.tokenizer, dict(options)
    if options.get("stop_strings") and "tokenizer" not in options:
        options["tokenizer"] = tok  # the stopping criterion decodes with it
    if stream and (len(prompts) != 1 or not run.streams(options)):
        raise ValueError("streaming takes one prompt and one sequence, without beams; use generate()")
    rows = [(list(p) if isinstance(p, list) else tok.encode(p)) or [_start_id(tok)] for p in prompts]  # texts or ids
    total = new_tokens(run, rows, options, sliding_window)
    if isinstance(run.model, MemoryLM):  # the memory carries the context: no window
        return _generate_with_memory(run, rows, total, stream, options, token_ids)
    context = run.model.max_context
    windows = context is not None and max(map(len, rows)) + total > context
    if windows and not sliding_window:
        raise ValueError(_past_context(rows, total, context))
    if stream:
        ids = _stream_windows(run, rows[0], total, options) if windows else _stream_ids(run, rows[0], total, options)
        return stream_text(ids, tok)
    outputs = _windows(run, rows, total, options) if windows else _batch(run, rows, total, options)
    ends = _Ends(run, options)
    if token_ids:
        return iter(sequences(rows, outputs, ends))
    return (tok.decode(ends.cut(new)[0]) for new in outputs)


def sequences(rows: list[list[int]], outputs: list[list[int]], ends: _Ends) -> list[list[int]]:
    """Each sequence's ids as transformers' generate returns one prompt's: the prompt (no batch padding),
    then its new ids up to where the longest of the prompt's ``num_return_sequences`` ends (its EOS
    included, or its stop string), the shorter ones keeping generate's padding after their end."""
    n = len(outputs) // len(rows)
    out = []
    for p, row in enumerate(rows):
        group = outputs[p * n : (p + 1) * n]
        width = max(ends.length(new) for new in group)
        out += [row + new[:width] for new in group]
    return out


def new_tokens(run: TextGenerator, rows: list[list[int]], options: dict, sliding_window: bool = False) -> int:
    """``max_new_tokens`` taken out of ``options``: the call's, else the generation config's (its
    ``max_length`` counts the longest prompt too), else ``DEFAULT_MAX_NEW_TOKENS``, or fewer where an
    absolute-position model's context holds fewer after the prompts (without ``sliding_window``)."""
    given = {k: options.pop(k) for k in LENGTHS if options.get(k) is not None}
    if len(given) == 2:
        raise ValueError("give max_new_tokens or max_length, not both")
    source = given or vars(run.model.generation_config)  # the call's length replaces the config's
    total, length = source.get("max_new_tokens"), source.get("max_length")
    if total is None and length is not None:
        total = max(1, length - max(map(len, rows)))
    if total is None:  # no length asked for: the default, within the context
        context = None if isinstance(run.model, MemoryLM) or sliding_window else run.model.max_context
        room = None if context is None else context - max(map(len, rows))
        total = DEFAULT_MAX_NEW_TOKENS if room is None or room < 1 else min(DEFAULT_MAX_NEW_TOKENS, room)
    if not isinstance(total, int) or isinstance(total, bool):
        raise ValueError(f"max_new_tokens must be an integer, got {total!r}")
    if total < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {total}")
    return total


def _past_context(rows: list[list[int]], total: int, context: int) -> str:
    """The refusal of a prompt and a length past an absolute-position model's context, with the fixes."""
    prompt = max(map(len, rows))
    room = context - prompt
    fewer = f"ask for at most {room} new tokens" if room > 0 else f"shorten the prompt below {context} tokens"
    return (
        f"the {'longest ' if len(rows) > 1 else ''}prompt is {prompt} tokens and max_new_tokens={total}: "
        f"{prompt + total} positions, past this model's context of {context} (a table of {context} learned "
        f"positions); {fewer}, or generate in sliding windows that re-read the last {context // 2} tokens "
        "(--sliding-window, or sliding_window=True in Python: an approximation past the first window)"
    )


def _batch(run: TextGenerator, rows: list[list[int]], total: int, options: dict) -> list[list[int]]:
    """One ``generate`` call on the left-padded batch: the new ids of each returned sequence."""
    ids, mask = _left_padded(run, rows)
    return run.model.generate(ids, mask, max_new_tokens=total, **options)[:, ids.shape[1] :].tolist()


def _left_padded(run: TextGenerator, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, S) ids and mask, padded on the left: every prompt ends where generation starts."""
    width, device = max(map(len, rows)), _device(run.model)
    pad = next((i for i in (run.tokenizer.pad_token_id, run.tokenizer.eos_token_id) if i is not None), 0)  # masked
    ids = torch.full((len(rows), width), pad, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, device=device)
        mask[i, width - len(row) :] = 1
    return ids, mask


def _windows(run: TextGenerator, rows: list[list[int]], total: int, options: dict) -> list[list[int]]:
    """The opt-in sliding window: generate up to the context, keep the last half-context as the next
    prompt, go on. The first window returns ``num_return_sequences`` rows per prompt; each then goes
    on as a prompt of its own (with beams: its own beam search)."""
    context, ends = run.model.max_context, _Ends(run, options)
    window, options = context // 2, _one_random_stream(run, options)
    rows = [row if len(row) < context else row[-window:] for row in rows]
    first = _batch(run, rows, context - max(map(len, rows)), options)  # B * n rows, grouped per prompt
    n = len(first) // len(rows)
    rows, outputs, finished = [row for row in rows for _ in range(n)], [[] for _ in first], [False] * len(first)
    options, produced, new_rows, active = {**options, "num_return_sequences": 1}, 0, first, range(len(first))
    while True:
        for i, new in zip(active, new_rows, strict=True):
            kept, finished[i] = ends.cut(new)
            outputs[i] += kept
            rows[i] = (rows[i] + kept)[-window:]
        produced += len(new_rows[0])
        active = [i for i in range(len(rows)) if not finished[i]]
        if produced >= total or not active:
            return outputs
        chunk = min(total - produced, context - window)
        new_rows = _batch(run, [rows[i] for i in active], chunk, _after(options, produced))


def _after(options: dict, produced: int) -> dict:
    """A later window's options: ``min_new_tokens`` counts the whole completion, so what is left of it."""
    if not options.get("min_new_tokens"):
        return options
    return {**options, "min_new_tokens": max(0, options["min_new_tokens"] - produced)}


def _one_random_stream(run: TextGenerator, options: dict) -> dict:
    """``seed`` made one generator for every call (windows, or prompts one at a time): reseeding each
    call would repeat its draws."""
    if options.get("seed") is None or options.get("generator") is not None:
        return options
    generator = torch.Generator(device=_device(run.model)).manual_seed(options["seed"])
    return {**{k: v for k, v in options.items() if k != "seed"}, "generator": generator}


def _stream_ids(run: TextGenerator, row: list[int], total: int, options: dict) -> Iterator[int]:
    """One prompt's new ids as they come, in one pass."""
    ids = torch.tensor([row], device=_device(run.model))
    return run.model.stream_ids(ids, max_new_tokens=total, **options)


def _stream_windows(run: TextGenerator, row: list[int], total: int, options: dict) -> Iterator[int]:
    """One prompt's new ids, window after window (the opt-in sliding window)."""
    context = run.model.max_context
    window, options, produced = context // 2, _one_random_stream(run, options), 0
    row = row if len(row) < context else row[-window:]
    while produced < total:
        chunk, count = min(total - produced, context - len(row)), 0
        for token in _stream_ids(run, row, chunk, _after(options, produced)):
            count += 1
            row.append(token)
            yield token
        produced += chunk
        if count < chunk:  # EOS or a stop string
            return
        row = row[-window:]


def _generate_with_memory(
    run: TextGenerator, rows: list[list[int]], total: int, stream: bool, options: dict, token_ids: bool = False
):
    """Transformer-XL: each prompt read in segments into memory, then extended token by token."""
    if stream:
        yield from stream_text(_stream_ids(run, rows[0], total, options), run.tokenizer)
        return
    ends, options = _Ends(run, options), _one_random_stream(run, options)  # one stream over the prompts
    for row in rows:  # one at a time: the memory has no padding
        outputs = _batch(run, [row], total, options)
        if token_ids:
            yield from sequences([row], outputs, ends)
            continue
        for new in outputs:
            yield run.tokenizer.decode(ends.cut(new)[0])


def _start_id(tok) -> int:
    """What an empty prompt starts from: BOS, else EOS (GPT-2's one special token)."""
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    if start is None:
        raise ValueError("an empty prompt needs a BOS or EOS token to start from; this tokenizer has neither")
    return start


class _Ends:
    """Where a returned sequence ends: before its first EOS (the call's or the generation config's,
    and the tokenizer's), or after the first stop string it reaches, by the stopping criterion's own
    rule (the padding after a stopped row goes with it)."""

    def __init__(self, run: TextGenerator, options: dict) -> None:
        eos = options.get("eos_token_id", run.model.generation_config.eos_token_id)
        eos = getattr(run.model.config, "eos_token_id", None) if eos is None else eos
        eos = [] if eos is None else [eos] if isinstance(eos, int) else eos
        self.eos = {*eos, run.tokenizer.eos_token_id} - {None}
        strings = options.get("stop_strings")
        strings = [strings] if isinstance(strings, str) else strings
        self.stop = StopStrings(strings, run.tokenizer, 0) if strings else None

    def length(self, new: list[int]) -> int:
        """How many of ``new`` the sequence holds: to its stop string, else to its EOS included, else all."""
        kept, ended = self.cut(new)
        stopped = self.stop is not None and bool(kept) and bool(self.stop(torch.tensor([kept]), None)[0])
        return len(kept) + (1 if ended and not stopped and len(kept) < len(new) else 0)

    def cut(self, new: list[int]) -> tuple[list[int], bool]:
        """(the ids kept, whether the sequence ended there)."""
        end = next((i for i, token in enumerate(new) if token in self.eos), None)
        kept = new if end is None else new[:end]
        if self.stop is not None:
            for k in range(1, len(kept) + 1):
                if self.stop(torch.tensor([kept[:k]]), None)[0]:
                    return kept[:k], True
        return kept, end is not None


def _device(model) -> torch.device:
    return next(model.parameters()).device


def reply_ids(run: TextGenerator, ids: list[int], options: dict) -> list[int]:
    """The new ids after the prompt ``ids``, up to (not with) the first end-of-sequence id."""
    options = dict(options)
    total = _fits_context(run, len(ids), options)
    new = run.model.generate(torch.tensor([ids]), max_new_tokens=total, **options)[0, len(ids) :].tolist()
    eos = run.model.generation_config.eos_token_id if options.get("eos_token_id") is None else options["eos_token_id"]
    stops = {*([] if eos is None else [eos] if isinstance(eos, int) else eos), run.tokenizer.eos_token_id}
    return next((new[:i] for i, token in enumerate(new) if token in stops), new)


def _fits_context(run: TextGenerator, length: int, options: dict) -> int:
    """``max_new_tokens`` taken out of ``options`` (default 200), checked to fit after ``length`` prompt tokens."""
    if not isinstance(run.model, CausalLM):
        raise ValueError(f"chat needs a causal language model (Llama, GPT); this is a {type(run.model).__name__}")
    total, context = options.pop("max_new_tokens", 200), run.model.config.max_position
    if total < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {total}")
    if length + total > context:
        raise ValueError(
            f"the conversation is {length} tokens; with max_new_tokens={total} it passes the model's context of "
            f"{context}: start again (/reset in einformer chat) or ask for fewer new tokens"
        )
    return total


class _SkippingSpecial:
    """A tokenizer whose ``decode`` leaves special tokens out (what ``TextStream`` decodes with, for chats)."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)
