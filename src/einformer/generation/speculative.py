"""Prompt-lookup decoding (Saxena 2023; transformers' ``prompt_lookup_num_tokens``) and assisted
decoding with a draft model (Leviathan et al. 2023; ``assistant_model``): greedy search that checks
several proposed tokens per forward pass of the model, with exactly the tokens of plain greedy search.

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

An encoder-decoder checks proposals the same way on its decoder (``Seq2SeqState.verify``). With one
vocabulary for both sides (``share_embeddings``), prompt lookup searches the source before the
output, so a translation or summary that copies names and numbers from its input finds them there
(transformers searches the output only); with two vocabularies it searches the output only. A draft
encoder-decoder reads the source with its own encoder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from .config import GenerationConfig
from .decoders import CausalState, Seq2SeqState
from .kinds import CausalLM, Seq2SeqLM, kind_of
from .search import _process, sample


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


class PromptLookup:
    """Proposals copied from the sequence itself (``lookup``), after ``source`` (an encoder-decoder's
    input ids, when both sides share one vocabulary; empty otherwise)."""

    def __init__(self, num_tokens: int, max_ngram: int, source: list[int] = ()) -> None:
        self.num_tokens, self.max_ngram, self.source = num_tokens, max_ngram, list(source)

    def propose(self, sequence: Tensor, room: int, eos: set[int], processors, sample=False, generator=None):
        """(tokens, None): a proposal with no distribution of its own (one-hot, for sampling)."""
        text = self.source + sequence[0].tolist()
        return lookup(text, min(self.num_tokens, room), self.max_ngram, eos), None

    def update(self, proposed: int, accepted: int) -> None:
        pass


class Assistant:
    """Proposals from a smaller draft model's own greedy search (transformers' ``assistant_model``),
    with its own decoder state, cut back like the target's. ``schedule`` "constant" proposes
    ``num_tokens`` each time; "heuristic" (transformers' default) proposes 2 more after a fully
    accepted proposal and 1 fewer (at least 1) otherwise. A draft token whose probability is below
    ``confidence`` ends the proposal (``assistant_confidence_threshold``)."""

    def __init__(self, state, num_tokens: int, schedule: str, confidence: float | None) -> None:
        self.state, self.num_tokens, self.schedule, self.confidence = state, num_tokens, schedule, confidence

    def propose(self, sequence: Tensor, room: int, eos: set[int], processors, sample=False, generator=None):
        """(tokens, their draft distributions q (V,) when sampling, else None)."""
        cached = self.state.cache.length
        if cached:
            self.state.rollback(min(cached, sequence.shape[1] - 1))  # what the draft saw of the sequence
        logits = self.state.step(sequence[:, self.state.cache.length :]).float()
        proposal, dists, draft = [], [], sequence
        limit = min(int(self.num_tokens), room)
        probabilities = sample or bool(self.confidence)  # greedy without the threshold: the argmax alone
        for i in range(limit):
            scores = _process(processors, draft, logits)
            if probabilities:
                probs = scores.softmax(dim=-1)  # (1, V)
                token = int(draw(probs, generator)) if sample else int(probs.argmax(dim=-1))
                if self.confidence and float(probs[0, token]) < self.confidence and proposal:
                    break
                dists.append(probs[0])
            else:
                token = int(scores.argmax(dim=-1))
            proposal.append(token)
            if token in eos or i == limit - 1:
                break
            new = torch.tensor([[token]], device=sequence.device)
            if processors:  # they read the sequence so far
                draft = torch.cat([draft, new], dim=1)
            logits = self.state.step(new).float()
        return proposal, (dists if sample else None)

    def update(self, proposed: int, accepted: int) -> None:
        if self.schedule == "heuristic":
            self.num_tokens = self.num_tokens + 2 if accepted == proposed else max(1, self.num_tokens - 1)


def speculative_steps(
    decoder,
    prompt: Tensor,
    *,
    proposer,
    max_new_tokens: int,
    eos_token_id: list[int],
    pad_token_id: int,
    processors: list[Callable] = (),
    stopping: list[Callable] = (),
    generator=None,
    do_sample: bool = False,
) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """``decode_steps``' protocol for greedy search or sampling checking proposals (``PromptLookup`` or
    ``Assistant``): one yield per chosen token, (token (1,), processed scores (1, V), the sequence so
    far (1, P + n), raw logits (1, V)). Sampling keeps a proposed token x with probability
    min(1, p(x) / q(x)) and on a rejection draws from max(0, p - q) renormalised (Leviathan et al.
    2023; Chen et al. 2023), which leaves every token distributed as plain sampling draws it."""
    if prompt.shape[0] != 1:
        raise ValueError(
            f"prompt-lookup and assisted decoding take one prompt at a time (as transformers does), got "
            f"{prompt.shape[0]}; generate the prompts one by one"
        )
    eos = set(eos_token_id)
    sequence = prompt
    logits = decoder.step(prompt).float()  # (1, V): after the prompt
    produced, override = 0, None
    while produced < max_new_tokens:
        scores = _process(processors, sequence, logits)
        if override is not None:  # a rejected proposal: the replacement comes from the residual
            token, override = draw(override, generator), None
        elif do_sample:
            token = draw(scores.softmax(dim=-1), generator)
        else:
            token = scores.argmax(dim=-1)  # (1,)
        sequence = torch.cat([sequence, token[:, None]], dim=1)
        produced += 1
        yield token, scores, sequence, logits
        if _stops(token, sequence, scores, eos, stopping) or produced == max_new_tokens:
            return
        proposal, dists = proposer.propose(sequence, max_new_tokens - produced, eos, processors, do_sample, generator)
        if not proposal:
            logits = decoder.step(token[:, None]).float()
            continue
        fed = torch.tensor([[int(token)] + proposal], device=prompt.device)
        all_logits = decoder.verify(fed).float()  # (1, 1 + K, V): after the token, after each proposed one
        accepted = 0
        for j, candidate in enumerate(proposal):
            scores = _process(processors, sequence, all_logits[:, j])
            if do_sample:
                q = None if dists is None else dists[j]
                residual = judge(scores.softmax(dim=-1)[0], q, candidate, generator)
                if residual is not None:
                    override = residual[None]
                    break
            elif int(scores.argmax(dim=-1)) != candidate:
                break
            token = torch.tensor([candidate], device=prompt.device)
            sequence = torch.cat([sequence, token[:, None]], dim=1)
            produced, accepted = produced + 1, accepted + 1
            yield token, scores, sequence, all_logits[:, j]
            if _stops(token, sequence, scores, eos, stopping) or produced == max_new_tokens:
                return
        proposer.update(len(proposal), accepted)
        decoder.rollback(sequence.shape[1])  # the cache holds exactly the sequence
        logits = all_logits[:, accepted]


def judge(p: Tensor, q: Tensor | None, x: int, generator=None) -> Tensor | None:
    """Speculative sampling's test of a proposed token x: None to keep it (probability
    min(1, p(x) / q(x))), else the distribution to draw its replacement from, max(0, p - q)
    renormalised. ``q`` None is a proposal made without a distribution (prompt lookup): one-hot at x.
    p, q: (V,) probabilities of the model and of the proposer at this position."""
    qx = 1.0 if q is None else float(q[x])
    if float(torch.rand((), generator=generator, device=p.device)) * qx < float(p[x]):  # u < p(x) / q(x)
        return None
    if q is None:
        residual = p.clone()
        residual[x] = 0.0  # max(0, p - onehot(x))
    else:
        residual = (p - q).clamp(min=0.0)
    total = float(residual.sum())
    return p if total <= 0.0 else residual / total


def draw(probs: Tensor, generator=None) -> Tensor:
    """One token from (1, V) or (V,) probabilities -> (1,)."""
    return sample(probs.reshape(1, -1), generator)


def _stops(token: Tensor, sequence: Tensor, scores: Tensor, eos: set[int], stopping) -> bool:
    if int(token) in eos:
        return True
    return any(bool(criterion(sequence, scores).any()) for criterion in stopping)


NOUNS = {"causal": "a decoder-only", "seq2seq": "an encoder-decoder"}


def _vocabulary(model) -> int:
    """The size of the vocabulary a model generates in (an encoder-decoder's target side)."""
    c = model.config
    return c.tgt_vocab_size if isinstance(model, Seq2SeqLM) else c.vocab_size


def make_proposer(model, o: GenerationConfig, runtime: dict, input_ids: Tensor, attention_mask: Tensor | None):
    """Prompt lookup or a draft model when asked (None otherwise); a clear error where it does not apply.
    ``input_ids``: the prompt, or an encoder-decoder's source."""
    num_tokens, assistant = o.prompt_lookup_num_tokens, runtime.get("assistant_model")
    if not num_tokens and assistant is None:
        return None
    method = "prompt-lookup decoding" if num_tokens else "assisted decoding"
    if num_tokens and assistant is not None:
        raise ValueError("give prompt_lookup_num_tokens or assistant_model, not both")
    if not isinstance(model, CausalLM | Seq2SeqLM) or not getattr(model, "supports_cache", True):
        raise ValueError(
            f"{method} is implemented for decoder-only and encoder-decoder models with a key/value cache, "
            f"not {type(model).__name__}"
        )
    if o.num_beams > 1:
        raise ValueError(f"{method} runs with greedy search or sampling, not beam search: drop num_beams")
    if not o.use_cache:
        raise ValueError(f"{method} checks proposals against the key/value cache: keep use_cache=True")
    if num_tokens:
        max_ngram = o.max_matching_ngram_size or 2  # transformers' default
        if num_tokens < 1 or max_ngram < 1:
            raise ValueError(f"prompt_lookup_num_tokens ({num_tokens}) and max_matching_ngram_size must be >= 1")
        seq2seq = isinstance(model, Seq2SeqLM)
        source = [] if not seq2seq or not model.config.share_embeddings else _source(model, input_ids, attention_mask)
        return PromptLookup(num_tokens, max_ngram, source)
    kind = kind_of(model)
    if kind_of(assistant) != kind or not getattr(assistant, "supports_cache", True):
        raise ValueError(
            f"assistant_model must be {NOUNS[kind]} einformer model with a key/value cache, as the model is; got "
            f"{type(assistant).__name__}"
        )
    if _vocabulary(assistant) != _vocabulary(model):
        raise ValueError(
            f"the assistant's vocabulary ({_vocabulary(assistant)} tokens) differs from the model's "
            f"({_vocabulary(model)}); a draft model must share the tokenizer"
        )
    schedule = o.num_assistant_tokens_schedule or "constant"  # transformers' defaults
    if schedule not in ("constant", "heuristic"):
        raise ValueError(f"num_assistant_tokens_schedule={schedule!r}: choose 'constant' or 'heuristic'")
    count = o.num_assistant_tokens or 20
    confidence = o.assistant_confidence_threshold
    assistant.eval()
    if isinstance(model, Seq2SeqLM):
        memory = assistant.encoder_states(input_ids, attention_mask)
        state = Seq2SeqState(assistant, memory, attention_mask, "dynamic", assistant.config.max_position)
    else:
        state = CausalState(assistant, attention_mask, "dynamic", assistant.config.max_position)
    return Assistant(state, count, schedule, confidence)


def _source(model, input_ids: Tensor, attention_mask: Tensor | None) -> list[int]:
    """The source's real tokens (padding dropped), for prompt lookup in a shared vocabulary."""
    ids = input_ids[0] if attention_mask is None else input_ids[0][attention_mask[0] != 0]
    return ids.tolist()
