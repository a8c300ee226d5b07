"""Text generation with a language model: prompts in, completions out, batched or streamed.

A ``CausalLM`` (GPT) generates in windows of its context: longer than the context, generation goes
on in windows, each re-reading the last half-context of tokens as its prompt (nanoGPT's sliding
window: exact within a window, an approximation across windows, as for any model with absolute
positions). A ``MemoryLM`` (Transformer-XL) carries the context in its memory: no window, one prompt
at a time (no padding).
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
