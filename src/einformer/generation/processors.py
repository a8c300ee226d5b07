"""Logits processors: each maps (input_ids (N, L), scores (N, V)) -> scores (N, V).

Applied in Hugging Face's order: repetition_penalty, no_repeat_ngram_size, bad_words_ids,
min_length, min_new_tokens, suppress_tokens, then user processors; when sampling, the "warpers"
temperature, top_k, top_p, min_p, typical_p follow. A removed token gets -inf.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

NEG_INF = -math.inf
ROUNDING = 6e-8  # fp32 unit roundoff: a sum of k probabilities may be off by up to k times this


class RepetitionPenalty:
    """CTRL's penalty (Keskar et al. 2019): a seen token's score is divided by ``penalty`` if positive,
    multiplied if negative, so > 1 discourages repeats. ``padding_lengths`` (B,) marks each row's left
    padding, which is not text the model repeated (as Hugging Face does since v4.5x)."""

    def __init__(self, penalty: float, padding_lengths: Tensor | None = None) -> None:
        self.penalty, self.padding_lengths = penalty, padding_lengths

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        vocab = scores.shape[-1]
        if self.padding_lengths is not None:  # padding -> an extra column that is dropped again
            lengths = self.padding_lengths.repeat_interleave(input_ids.shape[0] // len(self.padding_lengths))
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            input_ids = input_ids.masked_fill(positions[None] < lengths[:, None], vocab)
        padded = torch.nn.functional.pad(scores, (0, 1))
        seen = padded.gather(1, input_ids)
        seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return padded.scatter(1, input_ids, seen)[:, :vocab]


class NoRepeatNGram:
    """Ban any token that would complete an n-gram already present in the sequence."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        n, length = self.n, input_ids.shape[1]
        if length + 1 < n:
            return scores
        scores = scores.clone()
        for row, ids in enumerate(input_ids.tolist()):
            prefix = tuple(ids[length - n + 1 :]) if n > 1 else ()
            banned = {ids[i + n - 1] for i in range(length - n + 1) if tuple(ids[i : i + n - 1]) == prefix}
            if banned:
                scores[row, list(banned)] = NEG_INF
        return scores


class BadWords:
    """Never generate these token sequences: a one-token entry is always banned, a longer one is
    banned as its last token when the tokens before it were just generated."""

    def __init__(self, bad_words_ids: list[list[int]], eos_token_id: list[int]) -> None:
        sequences = [seq for seq in bad_words_ids if not (len(seq) == 1 and seq[0] in eos_token_id)]  # as HF
        self.single = [seq[0] for seq in sequences if len(seq) == 1]
        self.multi = [seq for seq in sequences if len(seq) > 1]

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        scores = scores.clone()
        if self.single:
            scores[:, self.single] = NEG_INF
        for seq in self.multi:
            prefix = torch.tensor(seq[:-1], device=input_ids.device)
            if input_ids.shape[1] >= len(prefix):
                hit = (input_ids[:, input_ids.shape[1] - len(prefix) :] == prefix).all(dim=1)
                scores[hit, seq[-1]] = NEG_INF
        return scores


class MinLength:
    """No EOS while the sequence (prompt included, as in HF's ``min_length``) is shorter than ``length``;
    with ``prompt_length`` set, counts new tokens only (``min_new_tokens``)."""

    def __init__(self, length: int, eos_token_id: list[int], prompt_length: int = 0) -> None:
        self.length, self.eos, self.prompt_length = length, eos_token_id, prompt_length

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        if input_ids.shape[1] - self.prompt_length < self.length:
            scores = scores.clone()
            scores[:, self.eos] = NEG_INF
        return scores


class SuppressTokens:
    def __init__(self, tokens: list[int]) -> None:
        self.tokens = list(tokens)

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        scores = scores.clone()
        scores[:, self.tokens] = NEG_INF
        return scores


class Temperature:
    def __init__(self, temperature: float) -> None:
        self.temperature = temperature

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        return scores / self.temperature


class TopK:
    """Keep the k highest scores (ties with the k-th kept too)."""

    def __init__(self, k: int, keep: int = 1) -> None:
        self.k = max(k, keep)

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        kth = scores.topk(min(self.k, scores.shape[-1]), dim=-1).values[:, -1:]
        return scores.masked_fill(scores < kth, NEG_INF)


class TopP:
    """Nucleus sampling (Holtzman et al. 2020): keep the smallest set of most probable tokens whose
    probability reaches p; equivalently, drop the least probable tokens while their mass stays <= 1 - p.

    A full sort of the vocabulary costs about 0.6 ms per row at 8,192 tokens on a CPU, a top-64
    about 0.05 ms. So the cut is looked for among the 64 most probable tokens (a peaked distribution
    has a small nucleus) and the 64 least probable (a flat one has a small dropped tail); if neither
    holds it, once more on the side whose size, extrapolated from those 64, is smaller; only then is
    everything sorted. All three give the same tokens."""

    first = 64

    def __init__(self, p: float, keep: int = 1) -> None:
        self.p, self.keep = p, keep

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        probs, vocab = scores.softmax(dim=-1), scores.shape[-1]
        drop = self._partial(probs, vocab) if 2 * self.first + self.keep <= vocab else None
        if drop is None:
            drop = self._tail(probs, vocab)[0]  # the full sort
        return scores.masked_fill(drop, NEG_INF)

    def _partial(self, probs: Tensor, vocab: int) -> Tensor | None:
        """The drop mask from partial top-k's (see the class docstring), or None if they do not hold the cut."""
        drop, head_mass = self._head(probs, self.first)
        if drop is not None:
            return drop
        drop, tail_mass = self._tail(probs, self.first)
        if drop is not None:
            return drop
        # extrapolate: the first k tokens of the head (tail) hold head_mass (tail_mass)
        head_k = self.first * self.p / float(head_mass.min())  # an underestimate: density falls
        tail_k = self.first * (1 - self.p) / max(float(tail_mass.min()), 1e-30)  # an overestimate
        k = int(1.25 * min(head_k, tail_k)) + 1
        if k + self.keep > vocab // 2:
            return None
        return (self._head if head_k < tail_k else self._tail)(probs, k)[0]

    def _head(self, probs: Tensor, k: int) -> tuple[Tensor | None, Tensor]:
        """The drop mask if every row's nucleus lies in its k most probable tokens; their mass (N,)."""
        top, index = probs.topk(k, dim=-1)  # (N, k), most probable first
        mass = top.cumsum(dim=-1)
        if not bool((mass[:, -1] >= self.p + k * ROUNDING).all()):
            return None, mass[:, -1]
        keep = mass - top < self.p  # the strictly more probable tokens hold less than p
        keep[:, : self.keep] = True
        return torch.ones_like(probs, dtype=torch.bool).scatter(1, index, ~keep), mass[:, -1]

    def _tail(self, probs: Tensor, k: int) -> tuple[Tensor | None, Tensor]:
        """The drop mask if every row's dropped tail lies in its k least probable tokens; their mass (N,)."""
        low, index = probs.topk(k, dim=-1, largest=False)  # (N, k), least probable first
        mass = low.cumsum(dim=-1)
        drop = mass <= 1 - self.p
        if k == probs.shape[-1]:
            drop[:, -self.keep :] = False
        elif not bool((mass[:, -1] > 1 - self.p + k * ROUNDING).all()):
            return None, mass[:, -1]
        return torch.zeros_like(probs, dtype=torch.bool).scatter(1, index, drop), mass[:, -1]


class MinP:
    """Keep tokens whose probability is at least min_p times the top token's."""

    def __init__(self, min_p: float, keep: int = 1) -> None:
        self.min_p, self.keep = min_p, keep

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        probs = scores.softmax(dim=-1)
        drop = probs < self.min_p * probs.amax(dim=-1, keepdim=True)
        drop.scatter_(1, probs.topk(min(self.keep, probs.shape[-1]), dim=-1).indices, False)
        return scores.masked_fill(drop, NEG_INF)


class Typical:
    """Locally typical sampling (Meister et al. 2023): keep the tokens whose surprisal is closest to the
    distribution's entropy, up to total probability ``mass``."""

    def __init__(self, mass: float, keep: int = 1) -> None:
        self.mass, self.keep = mass, keep

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        logp = scores.log_softmax(dim=-1)
        entropy = -(logp * logp.exp()).nansum(dim=-1, keepdim=True)
        distance, order = (-logp - entropy).abs().sort(dim=-1)
        cumulative = scores.gather(1, order).softmax(dim=-1).cumsum(dim=-1)
        last = (cumulative < self.mass).sum(dim=1).clamp(max=scores.shape[-1] - 1)
        drop = distance > distance.gather(1, last[:, None])
        drop[:, : self.keep] = False
        return scores.masked_fill(drop.scatter(1, order, drop), NEG_INF)
