"""Stopping criteria: each maps (input_ids (N, L), scores (N, V)) -> (N,) bool, True = this row is done.

EOS and the length limit are handled by the loops themselves; these add the rest of Hugging Face's
set: ``max_time`` and ``stop_strings`` (matched on decoded text, so a stop string split across
several tokens still stops generation). User criteria follow the same signature.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor


class MaxTime:
    """Stop every row once ``seconds`` have passed since generation started."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def __call__(self, input_ids: Tensor, scores: Tensor | None) -> Tensor:
        return torch.full((input_ids.shape[0],), time.monotonic() > self.deadline, device=input_ids.device)


class StopStrings:
    """Stop a row when one of ``stop_strings`` appears in its generated text overlapping its last
    token: the text ends with it, or the last token runs past it ("st" + "opera" stops at "stop"),
    transformers' rule (a stop string further back stopped the row when it came).

    Decodes only the last few tokens of each row (every token is at least one character, so
    ``longest stop string + 2`` tokens always cover a match), whatever the token boundaries.
    """

    def __init__(self, stop_strings: list[str], tokenizer, prompt_length: int) -> None:
        if tokenizer is None:
            raise ValueError("stop_strings needs a tokenizer to decode the text: pass tokenizer=...")
        self.stop_strings, self.tokenizer, self.prompt_length = list(stop_strings), tokenizer, prompt_length
        self.window = max(map(len, self.stop_strings)) + 2

    def __call__(self, input_ids: Tensor, scores: Tensor | None) -> Tensor:
        done = []
        for row in input_ids[:, self.prompt_length :].tolist():
            text, before = self.tokenizer.decode(row[-self.window :]), self.tokenizer.decode(row[-self.window : -1])
            # an occurrence that ends after ``before``: it starts at most len(s) - 1 characters before its end
            done.append(any(s in text[max(0, len(before) - len(s) + 1) :] for s in self.stop_strings))
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
