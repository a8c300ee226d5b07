"""Text generation with a language model: prompts in, completions out, batched or streamed.

A ``CausalLM`` (GPT) generates in windows of its context: longer than the context, generation goes
on in windows, each re-reading the last half-context of tokens as its prompt (nanoGPT's sliding
window: exact within a window, an approximation across windows, as for any model with absolute
positions). A ``MemoryLM`` (Transformer-XL) carries the context in its memory: no window, one prompt
at a time (no padding).

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
from ..generation.kinds import CausalLM, MemoryLM
from ..generation.streaming import TextStream, stream_text
from ..training.run_dir import LanguageModelRunInfo

SAMPLING_DEFAULTS = {"do_sample": True, "temperature": 0.8, "top_k": 50}
TOKEN_IDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")


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

    def generate(self, prompts: list[str], **options) -> list[str]:
        """The completion of each prompt (``generate`` options: max_new_tokens, do_sample, num_beams ...)."""
        return list(generate_text(self, prompts, **options))

    def stream(self, prompt: str, **options) -> Iterator[str]:
        """Pieces of the completion of ``prompt`` as they are produced (each final: whole characters)."""
        return generate_text(self, [prompt], stream=True, **options)

    def options(self, prompts: list[str], flags: dict) -> dict:
        """``command_options``: the flags given over the model's generation config."""
        return command_options(self, prompts, flags)

    def reply(self, ids: list[int], **options) -> str:
        """The continuation of one prompt given as ids (a chat's templated prompt, ``inference/chat.py``):
        whole, never windowed; up to the first EOS, special tokens left out of the text."""
        return self.tokenizer.decode(reply_ids(self, ids, options), skip_special_tokens=True)

    def stream_reply(self, ids: list[int], **options) -> Iterator[str]:
        """``reply``, as text pieces while the tokens come (each final: whole characters)."""
        total = _fits_context(self, len(ids), options)
        tokens = self.model.stream_ids(torch.tensor([ids]), max_new_tokens=total, **options)
        return stream_text(tokens, _SkippingSpecial(self.tokenizer))


def generate_text(run: TextGenerator, prompts: list[str], *, stream: bool = False, **options) -> Iterator[str]:
    """Completions of ``prompts`` (left-padded into one batch); with ``stream`` (one prompt) yield text
    pieces as they are produced."""
    if isinstance(run.model, MemoryLM):  # the memory carries the context: no window
        yield from _generate_with_memory(run, prompts, stream=stream, **options)
        return
    tok, context = run.tokenizer, run.model.config.max_position
    total, window = options.pop("max_new_tokens", 200), context // 2
    if total < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {total}")
    rows = [tok.encode(p)[-window:] or [tok.bos_id] for p in prompts]
    if stream:
        if len(rows) != 1:
            raise ValueError("streaming takes one prompt")
        yield from _stream_windows(run, rows[0], total, window, options)
        return
    outputs, finished, produced = [[] for _ in rows], [False] * len(rows), 0
    while produced < total and not all(finished):
        width = max(map(len, rows))
        chunk = min(total - produced, context - width)
        ids = torch.full((len(rows), width), tok.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):  # left padding: every prompt ends where generation starts
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
        new_rows = run.model.generate(ids, mask, max_new_tokens=chunk, **options)[:, width:].tolist()
        for i, new in enumerate(new_rows):
            if finished[i]:
                continue
            if tok.eos_id in new:
                new, finished[i] = new[: new.index(tok.eos_id)], True
            outputs[i] += new
            rows[i] = (rows[i] + new)[-window:]
        produced += chunk
    yield from (tok.decode(o) for o in outputs)


def _stream_windows(run: TextGenerator, row: list[int], total: int, window: int, options: dict):
    """Text pieces for one prompt, window after window, with one incremental detokenizer."""
    text, produced, context = TextStream(run.tokenizer), 0, run.model.config.max_position
    while produced < total:
        chunk = min(total - produced, context - len(row))
        count = 0
        for token in run.model.stream_ids(torch.tensor([row]), max_new_tokens=chunk, **options):
            count += 1
            row.append(token)
            piece = text.push(token)
            if piece:
                yield piece
        produced += chunk
        if count < chunk:  # EOS
            break
        row = row[-window:]
    tail = text.end()  # a last piece held back for an incomplete character
    if tail:
        yield tail


def _generate_with_memory(run: TextGenerator, prompts: list[str], *, stream: bool, **options):
    """Transformer-XL: each prompt read in segments into memory, then extended token by token."""
    tok = run.tokenizer
    if stream and len(prompts) != 1:
        raise ValueError("streaming takes one prompt")
    for prompt in prompts:
        ids = torch.tensor([tok.encode(prompt) or [tok.bos_id]])
        if stream:
            yield from stream_text(run.model.stream_ids(ids, **options), tok)
            return
        new = run.model.generate(ids, **options)[0, ids.shape[1] :].tolist()
        if tok.eos_id in new:
            new = new[: new.index(tok.eos_id)]
        yield tok.decode(new)


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


def command_options(run: TextGenerator, prompts: list[str], flags: dict) -> dict:
    """What ``einformer generate`` asks for: the flags given, over the model's generation_config.json.
    A generation config that sets no decoding option (only token ids and lengths, as einformer's runs
    and GPT-2's own file) gets the command's defaults: sampling at temperature 0.8, top-k 50; one that
    sets any is followed as transformers follows it (greedy unless it says otherwise). Without a
    length anywhere, 200 new tokens."""
    configured = run.model.generation_config.to_options()
    strategy = set(configured) - {*TOKEN_IDS, "max_new_tokens", "max_length"}
    defaults = {} if strategy else dict(SAMPLING_DEFAULTS)
    if "max_new_tokens" not in configured and "max_length" not in configured:
        defaults["max_new_tokens"] = 200
    options = {**defaults, **configured, **flags}
    if "max_new_tokens" not in flags and "max_new_tokens" not in configured and "max_length" in configured:
        longest = max(len(run.tokenizer.encode(p)) for p in prompts)  # max_length counts the prompt too
        options["max_new_tokens"] = max(1, configured["max_length"] - longest)
    options.pop("max_length", None)
    if options.get("num_beams", 1) > 1 and "do_sample" not in configured and "do_sample" not in flags:
        options["do_sample"] = False  # --num-beams N alone is beam search, not beam sampling
    return options
