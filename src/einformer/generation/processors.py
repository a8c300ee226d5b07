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
        self.index = torch.tensor(eos_token_id, dtype=torch.long)  # (E,), for index_fill

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        if input_ids.shape[1] - self.prompt_length < self.length:
            if self.index.device != scores.device:
                self.index = self.index.to(scores.device)
            return scores.index_fill(1, self.index, NEG_INF)  # a copy, one call (indexing with a list: several)
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


class SequenceBias:
    """Add a bias to a token sequence's last token whenever the tokens before it were just generated
    (a one-token sequence: always). ``sequence_bias``: {(ids...): bias} or Hugging Face's JSON form
    [[[ids...], bias], ...]; biases of several sequences ending in one token add up."""

    def __init__(self, sequence_bias) -> None:
        if isinstance(sequence_bias, list):
            sequence_bias = {tuple(ids): bias for ids, bias in sequence_bias}
        self.bias = sequence_bias
        self.checked = False

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        vocab = scores.shape[-1]
        if not self.checked:
            outside = sorted({i for seq in self.bias for i in seq if i >= vocab})
            if outside:
                raise ValueError(f"sequence_bias names token ids {outside} beyond the vocabulary of {vocab}")
            self.checked = True
        bias = torch.zeros_like(scores)
        for seq, value in self.bias.items():
            prefix = seq[:-1]
            if not prefix:
                bias[:, seq[-1]] += value
            elif len(prefix) <= input_ids.shape[1]:
                hit = (input_ids[:, input_ids.shape[1] - len(prefix) :] == torch.tensor(prefix)).all(dim=1)
                bias[hit, seq[-1]] += value
        return scores + bias


class ForcedFirst:
    """``forced_bos_token_id``: the first generated token of a sequence that starts with one token
    (an encoder-decoder's decoder start) is this one."""

    def __init__(self, token: int) -> None:
        self.token = token

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        return _only(scores, [self.token]) if input_ids.shape[1] == 1 else scores


class ForcedLast:
    """``forced_eos_token_id``: the token generated when the length limit is one away is EOS."""

    def __init__(self, max_length: int, eos: list[int]) -> None:
        self.max_length, self.eos = max_length, eos

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        return _only(scores, self.eos) if input_ids.shape[1] == self.max_length - 1 else scores


def _only(scores: Tensor, tokens: list[int]) -> Tensor:
    forced = torch.full_like(scores, NEG_INF)
    forced[:, tokens] = 0.0
    return forced


class RemoveInvalid:
    """``remove_invalid_values``: NaN -> 0, +-inf -> the dtype's largest / smallest finite value."""

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        limits = torch.finfo(scores.dtype)
        return torch.nan_to_num(scores, nan=0.0, posinf=limits.max, neginf=limits.min)


class ExponentialDecayLength:
    """``exponential_decay_length_penalty=(start, factor)``: once ``start`` tokens are generated,
    the EOS score grows by |score| * (factor ** n - 1) at the n-th token after that."""

    def __init__(self, penalty, eos: list[int], prompt_length: int) -> None:
        start, self.factor = penalty
        self.start, self.eos = int(start) + prompt_length, eos

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        n = input_ids.shape[1] - self.start
        if n <= 0:
            return scores
        eos_scores = scores[:, self.eos]
        boost = (eos_scores.abs() * (self.factor**n - 1)).masked_fill(~torch.isfinite(eos_scores), 0.0)
        scores = scores.clone()
        scores[:, self.eos] = eos_scores + boost
        return scores


class SuppressAtBegin:
    """``begin_suppress_tokens``: these tokens may not be the first generated one."""

    def __init__(self, tokens: list[int], begin: int) -> None:
        self.tokens, self.begin = list(tokens), begin

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        if input_ids.shape[1] != self.begin:
            return scores
        scores = scores.clone()
        scores[:, self.tokens] = NEG_INF
        return scores


class ClassifierFreeGuidance:
    """Classifier-free guidance for a decoder-only model (Sanchez et al. 2023, "Stay on topic with
    Classifier-Free Guidance"): guided = scale * (log p(x | prompt) - log p(x | u)) + log p(x | u),
    with u an unconditional (or negative) prompt: ``negative_prompt_ids``, by default each row's last
    prompt token, as Hugging Face's unbatched processor does. The unconditional branch is u followed by
    the tokens generated so far, re-read in full each step (taken from ``input_ids``, so it follows
    beams as they are reordered)."""

    def __init__(self, scale: float, model, prompt_length: int, ids: Tensor | None, mask: Tensor | None) -> None:
        self.scale, self.model, self.prompt_length = scale, model, prompt_length
        self.ids, self.mask = ids, mask

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        scores = scores.log_softmax(dim=-1)
        start = self.ids if self.ids is not None else input_ids[:, self.prompt_length - 1 : self.prompt_length]
        if start.shape[0] != input_ids.shape[0]:  # one negative prompt per prompt: repeat it for beams / samples
            start = start.repeat_interleave(input_ids.shape[0] // start.shape[0], dim=0)
        ids = torch.cat([start, input_ids[:, self.prompt_length :]], dim=1)
        mask = None
        if self.mask is not None and not bool(self.mask.all()):
            first = self.mask.repeat_interleave(input_ids.shape[0] // self.mask.shape[0], dim=0)
            mask = torch.cat([first, first.new_ones(ids.shape[0], ids.shape[1] - first.shape[1])], dim=1)
        unconditional = self.model(ids, mask).logits[:, -1].float().log_softmax(dim=-1)
        return self.scale * (scores - unconditional) + unconditional


class EpsilonCutoff:
    """Epsilon sampling (Hewitt et al. 2022, "Truncation Sampling as Language Model Desmoothing"):
    drop tokens of probability below ``epsilon``, keeping at least ``keep``."""

    def __init__(self, epsilon: float, keep: int = 1) -> None:
        self.epsilon, self.keep = epsilon, keep

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        return _cut_below(scores, self.epsilon, self.keep)


class EtaCutoff:
    """Eta sampling (Hewitt et al. 2022): the cutoff adapts to the entropy H of the distribution,
    eta = min(epsilon, sqrt(epsilon) * exp(-H)), keeping at least ``keep`` tokens."""

    def __init__(self, epsilon: float, keep: int = 1) -> None:
        self.epsilon, self.keep = epsilon, keep

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        logp = scores.log_softmax(dim=-1)
        entropy = -(logp.exp() * logp.clamp(min=torch.finfo(logp.dtype).min)).sum(dim=-1, keepdim=True)
        eta = torch.clamp(math.sqrt(self.epsilon) * torch.exp(-entropy), max=self.epsilon)
        return _cut_below(scores, eta, self.keep)


def _cut_below(scores: Tensor, cutoff, keep: int) -> Tensor:
    """Drop the tokens whose probability is below ``cutoff``, except the ``keep`` highest scores."""
    drop = scores.softmax(dim=-1) < cutoff
    kth = scores.topk(min(keep, scores.shape[-1]), dim=-1).values[:, -1:]
    return scores.masked_fill(drop & (scores < kth), NEG_INF)


class Renormalize:
    """``renormalize_logits``: log-softmax the processed scores, so they are log-probabilities again."""

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        return scores.log_softmax(dim=-1)
