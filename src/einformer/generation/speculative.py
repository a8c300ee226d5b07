"""Prompt-lookup decoding (Saxena 2023; transformers' ``prompt_lookup_num_tokens``): greedy search
that checks several tokens per forward pass, with exactly the tokens of plain greedy search.

After each chosen token, the last ``max_matching_ngram_size`` (down to 1) tokens are looked up in
the sequence so far; the tokens that followed their first earlier occurrence, up to
``num_tokens`` and cut before any EOS, are the proposal. One forward pass reads the chosen token
and the proposal together (``DecoderState.verify``: logits for every position, the cache extended by
all of them); the proposal is accepted token by token while greedy search, applying the processors
to each prefix, would have chosen it, and stops at EOS, at the length limit and at the stopping
criteria, as one token at a time would. The cache is then cut back to the accepted prefix
(``DecoderState.rollback``, ``crop`` on the dynamic or static cache), and the logits after the last
accepted token give the next token for free. Text that repeats its prompt (code edits, summaries,
question answering over a document) accepts long proposals; other text costs one wider forward
per token. One prompt at a time, as in transformers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from .search import _process


def lookup(sequence: list[int], num_tokens: int, max_ngram: int, eos: set[int]) -> list[int]:
    """The proposal after ``sequence``: what followed the first earlier match of its last n-gram."""
    length = len(sequence)
    for n in range(min(max_ngram, length - 1), 0, -1):
        tail = sequence[-n:]
        for start in range(length - n):  # the first occurrence that is not the tail itself
            if sequence[start : start + n] == tail:
                proposal = sequence[start + n : start + n + num_tokens]
                for i, token in enumerate(proposal):
                    if token in eos:
                        proposal = proposal[:i]
                        break
                return proposal  # the first match of the longest n-gram, even if EOS empties it (transformers)
    return []


def prompt_lookup_steps(
    decoder,
    prompt: Tensor,
    *,
    num_tokens: int,
    max_ngram: int,
    max_new_tokens: int,
    eos_token_id: list[int],
    pad_token_id: int,
    processors: list[Callable] = (),
    stopping: list[Callable] = (),
    generator=None,
) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """``decode_steps``' protocol for greedy search with prompt lookup: one yield per chosen token,
    (token (1,), processed scores (1, V), the sequence so far (1, P + n), raw logits (1, V))."""
    if prompt.shape[0] != 1:
        raise ValueError(
            f"prompt-lookup decoding takes one prompt at a time (as transformers does), got {prompt.shape[0]}; "
            "generate the prompts one by one"
        )
    eos = set(eos_token_id)
    sequence = prompt
    logits = decoder.step(prompt).float()  # (1, V): after the prompt
    produced = 0
    while produced < max_new_tokens:
        scores = _process(processors, sequence, logits)
        token = scores.argmax(dim=-1)  # (1,)
        sequence = torch.cat([sequence, token[:, None]], dim=1)
        produced += 1
        yield token, scores, sequence, logits
        if _stops(token, sequence, scores, eos, stopping) or produced == max_new_tokens:
            return
        proposal = lookup(sequence[0].tolist(), min(num_tokens, max_new_tokens - produced), max_ngram, eos)
        if not proposal:
            logits = decoder.step(token[:, None]).float()
            continue
        fed = torch.tensor([[int(token)] + proposal], device=prompt.device)
        all_logits = decoder.verify(fed).float()  # (1, 1 + K, V): after the token, after each proposed one
        accepted = 0
        for j, candidate in enumerate(proposal):
            scores = _process(processors, sequence, all_logits[:, j])
            if int(scores.argmax(dim=-1)) != candidate:
                break
            token = torch.tensor([candidate], device=prompt.device)
            sequence = torch.cat([sequence, token[:, None]], dim=1)
            produced, accepted = produced + 1, accepted + 1
            yield token, scores, sequence, all_logits[:, j]
            if _stops(token, sequence, scores, eos, stopping) or produced == max_new_tokens:
                return
        decoder.rollback(sequence.shape[1])  # the cache holds exactly the sequence
        logits = all_logits[:, accepted]


def _stops(token: Tensor, sequence: Tensor, scores: Tensor, eos: set[int], stopping) -> bool:
    if int(token) in eos:
        return True
    return any(bool(criterion(sequence, scores).any()) for criterion in stopping)
