"""Prompt-lookup and assisted decoding: the same tokens as plain greedy search (dynamic and static
cache, with processors, EOS inside a proposal, the length limit inside a proposal, stopping
criteria; any draft model), fewer forward passes than tokens on repetitive text and with an
identical draft, a cache cut back after a rejection equal to the cache of the accepted prefix
computed from scratch, and clear errors where it does not apply."""

import pytest
import torch

from einformer import GPT, EncoderDecoderConfig, EncoderDecoderTransformer, GPTConfig
from einformer.generation import decoders
from einformer.generation.speculative import judge, lookup


def gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig.from_preset("tiny", dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0)).eval()


def test_lookup_takes_the_first_match_of_the_longest_ngram():
    seq = [5, 6, 7, 8, 9, 5, 6, 7, 1, 2, 6, 7]
    assert lookup(seq, 3, 2, eos=set()) == [8, 9, 5]  # "6 7" first follows at index 1
    assert lookup(seq, 3, 1, eos=set()) == [8, 9, 5]  # "7" first at index 2
    assert lookup(seq, 5, 2, eos={9}) == [8]  # cut before EOS
    assert lookup([1, 2, 3, 4], 3, 2, eos=set()) == []  # nothing repeats
    assert lookup([4, 4], 3, 2, eos=set()) == [4]


PROMPTS = [
    [11, 12, 13, 14, 15, 11, 12, 13, 14, 15, 11, 12],  # repeats: proposals get accepted
    [3, 9, 27, 81, 50, 60],  # no repetition at first
]


@pytest.mark.parametrize("cache", ["dynamic", "static"])
@pytest.mark.parametrize("num_tokens", [1, 3, 10])
@pytest.mark.parametrize(
    "options",
    [dict(), dict(repetition_penalty=1.3), dict(no_repeat_ngram_size=4), dict(eos_token_id=14)],
    ids=["plain", "repetition_penalty", "no_repeat_ngram", "eos_inside_proposals"],
)
def test_same_tokens_as_greedy(cache, num_tokens, options):
    model = gpt()
    for prompt in PROMPTS:
        ids = torch.tensor([prompt])
        kw = dict(max_new_tokens=23, do_sample=False, cache_implementation=cache, pad_token_id=0, **options)
        expected = model.generate(ids, **kw)
        got = model.generate(ids, prompt_lookup_num_tokens=num_tokens, max_matching_ngram_size=3, **kw)
        assert got.tolist() == expected.tolist()


def test_length_limit_and_stopping_criteria_inside_a_proposal():
    model = gpt()
    ids = torch.tensor([PROMPTS[0]])
    for max_new in (1, 2, 5, 7):
        expected = model.generate(ids, max_new_tokens=max_new, do_sample=False)
        assert model.generate(ids, max_new_tokens=max_new, prompt_lookup_num_tokens=10).tolist() == expected.tolist()

    def after_six(input_ids, scores):  # a criterion that fires in the middle of a long proposal
        return torch.tensor([input_ids.shape[1] - len(PROMPTS[0]) >= 6])

    expected = model.generate(ids, max_new_tokens=20, do_sample=False, stopping_criteria=[after_six])
    got = model.generate(ids, max_new_tokens=20, prompt_lookup_num_tokens=10, stopping_criteria=[after_six])
    assert got.tolist() == expected.tolist() and got.shape[1] == len(PROMPTS[0]) + 6


def test_repetitive_text_needs_fewer_forward_passes_than_tokens(monkeypatch):
    model = gpt()
    ids = torch.tensor([PROMPTS[0]])
    plain = model.generate(ids, max_new_tokens=30, do_sample=False)
    calls = {"n": 0}
    for name in ("step", "verify"):
        original = getattr(decoders.CausalState, name)

        def counted(self, tokens, original=original):
            calls["n"] += 1
            return original(self, tokens)

        monkeypatch.setattr(decoders.CausalState, name, counted)
    got = model.generate(ids, max_new_tokens=30, prompt_lookup_num_tokens=10)
    assert got.tolist() == plain.tolist()
    assert calls["n"] < 30, calls  # the model's own loop is copied from the sequence


@pytest.mark.parametrize("cache", ["dynamic", "static"])
def test_a_rolled_back_cache_equals_the_accepted_prefix_from_scratch(cache):
    model = gpt()
    prompt, accepted, rejected = torch.tensor([[5, 6, 7]]), [8, 9], [10, 11, 12]
    state = decoders.CausalState(model, None, cache, 16)
    state.step(prompt)
    state.verify(torch.tensor([accepted + rejected]))
    state.rollback(prompt.shape[1] + len(accepted))
    fresh = decoders.CausalState(model, None, cache, 16)
    fresh.step(torch.tensor([[5, 6, 7] + accepted]))
    assert state.cache.length == fresh.cache.length == 5
    for mine, theirs in zip(state.cache.layers, fresh.cache.layers, strict=True):
        torch.testing.assert_close(mine.keys, theirs.keys, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(mine.values, theirs.values, atol=1e-6, rtol=1e-5)
    # and the next token's logits agree
    torch.testing.assert_close(state.step(torch.tensor([[4]])), fresh.step(torch.tensor([[4]])), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "options, phrase",
    [
        (dict(num_beams=2), "not beam search"),
        (dict(use_cache=False), "keep use_cache=True"),
        (dict(prompt_lookup_num_tokens=-1), "must be >= 1"),
    ],
)
def test_where_it_does_not_apply_it_says_so(options, phrase):
    model = gpt()
    kw = {"prompt_lookup_num_tokens": 3, **options}
    with pytest.raises(ValueError, match=phrase):
        model.generate(torch.tensor([[5, 6, 7]]), max_new_tokens=3, **kw)
    with pytest.raises(ValueError, match="one prompt at a time"):
        model.generate(torch.tensor([[5, 6, 7], [1, 2, 3]]), max_new_tokens=3, prompt_lookup_num_tokens=3)
    seq2seq = EncoderDecoderTransformer(EncoderDecoderConfig.from_preset("tiny", src_vocab_size=40, tgt_vocab_size=40))
    with pytest.raises(ValueError, match="must be a decoder-only einformer model"):
        model.generate(torch.tensor([[5, 6, 7]]), max_new_tokens=3, assistant_model=seq2seq)


# assisted decoding: a draft model proposes, the model checks


@pytest.mark.parametrize("schedule", ["constant", "heuristic"])
@pytest.mark.parametrize("cache", ["dynamic", "static"])
@pytest.mark.parametrize("confidence", [None, 0.4])
def test_any_assistant_gives_the_greedy_tokens(schedule, cache, confidence):
    model = gpt(0)
    for assistant in (gpt(0), gpt(1)):  # itself (everything accepted) and an unrelated draft (little is)
        for prompt in PROMPTS:
            ids = torch.tensor([prompt])
            kw = dict(max_new_tokens=17, do_sample=False, cache_implementation=cache, eos_token_id=14, pad_token_id=0)
            expected = model.generate(ids, **kw)
            got = model.generate(
                ids, assistant_model=assistant, num_assistant_tokens=4, num_assistant_tokens_schedule=schedule,
                assistant_confidence_threshold=confidence, **kw,
            )  # fmt: skip
            assert got.tolist() == expected.tolist()


def test_an_identical_assistant_is_always_accepted(monkeypatch):
    model = gpt(0)
    ids = torch.tensor([PROMPTS[1]])
    calls = {"n": 0}
    original = decoders.CausalState.verify

    def counted(self, tokens):
        calls["n"] += 1
        return original(self, tokens)

    monkeypatch.setattr(decoders.CausalState, "verify", counted)
    expected = gpt(0).generate(ids, max_new_tokens=21, do_sample=False)
    got = model.generate(ids, max_new_tokens=21, assistant_model=gpt(0), num_assistant_tokens=5,
                         assistant_confidence_threshold=None)  # fmt: skip
    assert got.tolist() == expected.tolist()
    assert calls["n"] == 4  # 21 tokens: 1 + 4 rounds of (5 accepted + 1 free) - the limit


def test_an_assistant_with_another_vocabulary_is_refused():
    model = gpt(0)
    torch.manual_seed(0)
    other = GPT(GPTConfig.from_preset("tiny", vocab_size=50)).eval()
    with pytest.raises(ValueError, match="the assistant's vocabulary .50 tokens. differs from the model's .99."):
        model.generate(torch.tensor([[5, 6, 7]]), max_new_tokens=3, assistant_model=other)
    with pytest.raises(ValueError, match="not both"):
        model.generate(torch.tensor([[5, 6, 7]]), max_new_tokens=3, assistant_model=gpt(1), prompt_lookup_num_tokens=2)


# speculative sampling: proposals are kept or replaced so that every token is distributed as plain
# sampling draws it (chi-square goodness of fit)


def p_value(counts: torch.Tensor, probs: torch.Tensor) -> float:
    n, keep = counts.sum(), probs > 0
    assert counts[~keep].sum() == 0  # a token of probability 0 is never drawn
    stat = float((((counts - n * probs) ** 2) / (n * probs))[keep].sum())
    return float(torch.special.gammaincc(torch.tensor((int(keep.sum()) - 1) / 2.0), torch.tensor(stat / 2.0)))


@pytest.mark.parametrize("draft", ["model", "one-hot"])
def test_the_acceptance_rule_leaves_the_model_s_distribution(draft):
    g = torch.Generator().manual_seed(0)
    p = torch.tensor([0.30, 0.25, 0.20, 0.15, 0.10, 0.0])
    q = torch.tensor([0.05, 0.10, 0.15, 0.20, 0.25, 0.25])  # a poor draft, even proposing p's impossible token
    n, counts = 100_000, torch.zeros(6)
    for _ in range(n):
        x = int(torch.multinomial(q, 1, generator=g)) if draft == "model" else 3
        residual = judge(p, q if draft == "model" else None, x, g)
        token = x if residual is None else int(torch.multinomial(residual, 1, generator=g))
        counts[token] += 1
    assert p_value(counts, p) > 1e-3


def test_assisted_sampling_draws_the_second_token_as_plain_sampling_does():
    """The second generated token's marginal, sum over x1 of p(x1) p(x2 | x1), computed exactly from
    the model, against 3,000 assisted-sampling runs with an unrelated draft model."""
    torch.manual_seed(0)
    config = GPTConfig.from_preset("tiny", vocab_size=8, dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0)
    model, draft = GPT(config).eval(), GPT(config).eval()
    for m in (model, draft):  # spread-out heads: distributions far from uniform and unlike each other
        torch.nn.init.normal_(m.lm_head.weight, std=1.0)
    prompt = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        first = model(prompt).logits[0, -1].softmax(-1)
        following = torch.stack([model(torch.cat([prompt, torch.tensor([[x]])], 1)).logits[0, -1].softmax(-1)
                                 for x in range(8)])  # fmt: skip
    marginal = first @ following  # (8,)
    counts = torch.zeros(8)
    for seed in range(3000):
        out = model.generate(prompt, max_new_tokens=2, do_sample=True, top_k=0, seed=seed, assistant_model=draft,
                             num_assistant_tokens=3, assistant_confidence_threshold=None)  # fmt: skip
        counts[int(out[0, -1])] += 1
    assert p_value(counts, marginal) > 1e-3


@pytest.mark.parametrize("cache", ["dynamic", "static"])
@pytest.mark.parametrize("padded", [False, True])
def test_the_packed_verify_equals_the_forward(cache, padded):
    """Checking K proposed tokens through the packed single-token weights (T rows per sequence, a causal
    mask after the cache) gives the regular forward's logits and cache."""
    model = gpt()
    ids = torch.tensor([[0, 0, 5, 6, 7], [9, 8, 5, 6, 7]])
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]) if padded else None
    proposed = torch.tensor([[4, 9, 11, 3], [2, 2, 7, 1]])
    states = []
    for fast in (True, False):
        state = decoders.CausalState(model, mask, cache, 16, fast=fast)
        state.step(ids)
        states.append((state, state.verify(proposed)))
    (fast_state, fast_logits), (slow_state, slow_logits) = states
    assert fast_logits.shape == (2, 4, model.config.vocab_size)
    torch.testing.assert_close(fast_logits, slow_logits, atol=1e-5, rtol=1e-5)
    for mine, theirs in zip(fast_state.cache.layers, slow_state.cache.layers, strict=True):
        torch.testing.assert_close(mine.keys, theirs.keys, atol=1e-6, rtol=1e-5)
