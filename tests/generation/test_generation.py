"""Generation identities and behaviours, on a tiny GPT: caches, sampling, stopping, streaming, errors."""

import math

import pytest
import torch

from einformer import GPT, GPTConfig
from einformer.data.tokenizer import Tokenizer
from einformer.generation import CallbackStreamer, TopK, TopP, decode_steps, stream_text
from einformer.generation.processors import MinP, Temperature, Typical
from einformer.generation.search import sample


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = GPTConfig.from_preset(
        "tiny", vocab_size=20, dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0, bos_token_id=1, eos_token_id=2
    )
    m = GPT(config).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(8.0)  # peaky distributions: no argmax ties, EOS sometimes likely
    return m


def prompts():
    ids = torch.randint(3, 20, (3, 5), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    mask[1, :2] = 0
    mask[2, :3] = 0
    return ids.masked_fill(mask == 0, 2), mask


@pytest.mark.parametrize("num_beams", [1, 3])
def test_cached_uncached_static_dynamic_agree(model, num_beams):
    ids, mask = prompts()
    kw = dict(max_new_tokens=10, num_beams=num_beams)
    plain = model.generate(ids, mask, use_cache=False, **kw)
    assert torch.equal(model.generate(ids, mask, **kw), plain)
    assert torch.equal(model.generate(ids, mask, cache_implementation="static", **kw), plain)


def test_left_padded_batch_equals_each_prompt_alone(model):
    ids, mask = prompts()
    batch = model.generate(ids, mask, max_new_tokens=10, eos_token_id=[])
    for row in range(3):
        real = ids[row][mask[row].bool()][None]
        alone = model.generate(real, max_new_tokens=10, eos_token_id=[])
        assert batch[row, -10:].tolist() == alone[0, -10:].tolist()


def test_top_k_1_sampling_equals_greedy(model):
    ids, mask = prompts()
    greedy = model.generate(ids, mask, max_new_tokens=10)
    sampled = model.generate(ids, mask, max_new_tokens=10, do_sample=True, top_k=1, seed=3)
    assert torch.equal(sampled, greedy)


def test_sampling_is_reproducible_by_seed(model):
    ids, mask = prompts()
    a = model.generate(ids, mask, max_new_tokens=10, do_sample=True, temperature=1.5, seed=7)
    b = model.generate(
        ids, mask, max_new_tokens=10, do_sample=True, temperature=1.5, generator=torch.Generator().manual_seed(7)
    )
    c = model.generate(ids, mask, max_new_tokens=10, do_sample=True, temperature=1.5, seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)


class FixedLogits:
    """A decoder that always returns the same logits for every row."""

    def __init__(self, logits, rows):
        self.logits, self.rows = logits, rows

    def step(self, tokens):
        return self.logits.expand(self.rows, -1)

    def reorder(self, index):
        pass


@pytest.mark.parametrize(
    "warpers",
    [[Temperature(0.7), TopK(6)], [TopP(0.8)], [MinP(0.05)], [Typical(0.9)]],
    ids=["temperature+top_k", "top_p", "min_p", "typical_p"],
)
def test_sampling_frequencies_match_the_processed_distribution(warpers):
    """Chi-square goodness of fit, 10^5 draws, fixed seed."""
    logits = torch.randn(1, 12, generator=torch.Generator().manual_seed(0)) * 2
    expected = logits
    for w in warpers:
        expected = w(None, expected)
    probs = expected.softmax(-1)[0]
    n = 100_000
    steps = decode_steps(
        FixedLogits(logits, n),
        torch.zeros(n, 1, dtype=torch.long),
        max_new_tokens=1,
        eos_token_id=[-1],
        pad_token_id=0,
        do_sample=True,
        processors=warpers,
        generator=torch.Generator().manual_seed(0),
    )
    tokens, _, _, _ = next(steps)
    counts = torch.bincount(tokens, minlength=12).double()
    assert counts[probs == 0].sum() == 0  # removed tokens are never drawn
    keep = probs > 0
    stat = float((((counts - n * probs) ** 2) / (n * probs))[keep].sum())
    dof = int(keep.sum()) - 1
    p_value = float(torch.special.gammaincc(torch.tensor(dof / 2.0), torch.tensor(stat / 2.0)))
    assert p_value > 1e-3, (stat, dof)


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    out = TopP(0.75)(None, probs.log())
    assert torch.isfinite(out).tolist() == [[True, True, False, False]]
    assert torch.isfinite(TopP(1.0)(None, probs.log())).all()


def test_num_return_sequences_with_sampling(model):
    ids, mask = prompts()
    out = model.generate(ids, mask, max_new_tokens=6, do_sample=True, num_return_sequences=4, seed=0)
    assert out.shape[0] == 12


def test_scores_and_min_new_tokens(model):
    ids, mask = prompts()
    out = model.generate(
        ids, mask, max_new_tokens=8, min_new_tokens=8, output_scores=True, return_dict_in_generate=True
    )
    assert len(out.scores) == 8 and out.scores[0].shape == (3, 20)
    assert (out.sequences[:, 5:] != 2).all()  # no EOS before 8 new tokens
    assert all(math.isinf(s[0, 2].item()) for s in out.scores)


def char_setup():
    tok = Tokenizer.train(["abcdefghijklmnop"], "char")
    return tok


def test_stop_strings_across_token_boundaries(model):
    tok = char_setup()
    ids = torch.tensor([[5, 6, 7]])
    full = model.generate(ids, max_new_tokens=15, eos_token_id=[])[0, 3:].tolist()
    text = tok.decode(full)
    stop = text[4:6]  # two characters = two tokens
    out = model.generate(ids, max_new_tokens=15, eos_token_id=[], stop_strings=[stop], tokenizer=tok)
    got = tok.decode(out[0, 3:].tolist())
    assert got.endswith(stop) and text.startswith(got) and len(got) <= 6
    with pytest.raises(ValueError, match="stop_strings needs a tokenizer"):
        model.generate(ids, max_new_tokens=3, stop_strings=["x"])


def test_max_time_stops_after_the_first_step(model):
    out = model.generate(torch.tensor([[5, 6]]), max_new_tokens=30, eos_token_id=[], max_time=1e-9)
    assert out.shape[1] == 3


def test_streaming_pieces_add_up_to_the_generated_text(model):
    tok = char_setup()
    ids = torch.tensor([[5, 6, 7]])
    full = model.generate(ids, max_new_tokens=12)[0, 3:].tolist()
    if 2 in full:
        full = full[: full.index(2)]
    pieces = list(model.stream(ids, tok, max_new_tokens=12))
    assert "".join(pieces) == tok.decode(full)
    seen = []
    model.generate(ids, max_new_tokens=12, streamer=CallbackStreamer(tok, seen.append))
    assert "".join(seen).rstrip("\n") == tok.decode(full)
    assert "".join(stream_text(full, tok)) == tok.decode(full)


def test_user_processors_and_stopping_criteria(model):
    ids = torch.tensor([[5, 6]])

    def only_token_9(input_ids, scores):
        out = torch.full_like(scores, -math.inf)
        out[:, 9] = 0
        return out

    def stop_after_three(input_ids, scores):
        return torch.full((input_ids.shape[0],), input_ids.shape[1] >= 5)

    out = model.generate(ids, max_new_tokens=10, logits_processor=[only_token_9], stopping_criteria=[stop_after_three])
    assert out[0, 2:].tolist() == [9, 9, 9]


@pytest.mark.parametrize(
    "options,match",
    [
        (dict(do_sample=True, top_p=0.0), r"top_p=0.0 must be in \(0, 1\]"),
        (dict(do_sample=True, top_p=1.5), r"top_p=1.5 must be in \(0, 1\]"),
        (dict(do_sample=True, temperature=0.0), "temperature=0.0 must be > 0"),
        (dict(num_beams=2, num_return_sequences=3), "num_return_sequences=3 must be between 1 and num_beams=2"),
        (dict(num_return_sequences=2), "greedy search returns one sequence"),
        (dict(max_new_tokens=5, max_length=10), "not both"),
        (dict(top_q=0.5), r"unknown generation option\(s\) \['top_q'\]"),
        (dict(max_new_tokens=100), "exceed the context of max_position=64"),
    ],
)
def test_bad_options_are_clear_errors(model, options, match):
    with pytest.raises(ValueError, match=match):
        model.generate(torch.tensor([[5, 6]]), **{"max_new_tokens": 4, **options})


@pytest.mark.parametrize("length_penalty", [0.0, 1.0, 2.0])
def test_gpt_beam_search_equals_exhaustive_search(length_penalty):
    """Vocabulary 5, 3 new tokens, 25 beams: nothing is pruned, so beam search finds the global best."""
    import itertools

    torch.manual_seed(4)
    config = GPTConfig.from_preset(
        "tiny", vocab_size=5, dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0, bos_token_id=0, eos_token_id=2
    )
    gpt = GPT(config).eval()
    with torch.no_grad():
        for p in gpt.parameters():
            p.mul_(5.0)
    prompt = torch.tensor([[1, 3, 4]])

    def score(seq):
        ids = torch.cat([prompt, torch.tensor([seq])], dim=1)
        logp = gpt(ids).logits.log_softmax(-1)[0]
        total = sum(logp[2 + i, t].item() for i, t in enumerate(seq))
        return total / len(seq) ** length_penalty

    candidates = [
        (score(seq), seq)
        for n in (1, 2, 3)
        for seq in itertools.product(range(5), repeat=n)
        if 2 not in seq[:-1] and (n == 3 or seq[-1] == 2)
    ]
    best_score, best = max(candidates)
    out = gpt.generate(
        prompt,
        max_new_tokens=3,
        num_beams=25,
        length_penalty=length_penalty,
        early_stopping="never",
        return_dict_in_generate=True,
        output_scores=True,
    )
    assert tuple(out.sequences[0, 3 : 3 + len(best)].tolist()) == best
    assert out.sequences_scores[0].item() == pytest.approx(best_score, abs=1e-5)


def full_sort_top_p(scores, p, keep):
    """The textbook rule: sort ascending, drop while the cumulative mass stays <= 1 - p."""
    ascending, order = scores.softmax(dim=-1).sort(dim=-1)
    drop = ascending.cumsum(dim=-1) <= 1 - p
    drop[:, -keep:] = False
    return ~drop.scatter(1, order, drop)


@pytest.mark.parametrize("vocab", [40, 300, 8192])
def test_top_p_partial_search_equals_a_full_sort(vocab):
    """TopP looks for the cut in a top-k from either end before sorting; every path keeps the same tokens."""
    g = torch.Generator().manual_seed(vocab)
    for scale in (0.02, 0.3, 2.0, 10.0):  # flat (large nucleus) to peaked (a few tokens)
        scores = torch.randn(4, vocab, generator=g) * scale
        scores[1, : vocab // 3] = float("-inf")  # a row with a third of the vocabulary removed
        for rows in (scores, scores[:1], scores[2:]):  # a batch, and rows whose search can stop early
            for p in (0.05, 0.5, 0.9, 0.95, 0.99, 1.0):
                for keep in (1, 3):
                    kept = torch.isfinite(TopP(p, keep)(None, rows))
                    assert torch.equal(kept, full_sort_top_p(rows, p, keep) & torch.isfinite(rows)), (scale, p, keep)


def test_inverse_cdf_sampling_never_draws_a_zero_probability_token():
    probs = torch.zeros(3, 10)
    probs[0, 0], probs[1, 9], probs[2, [2, 7]] = 1.0, 1.0, 0.5
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([sample(probs, g) for _ in range(2000)])  # (2000, 3)
    assert (draws[:, 0] == 0).all() and (draws[:, 1] == 9).all()
    assert set(draws[:, 2].tolist()) == {2, 7}
