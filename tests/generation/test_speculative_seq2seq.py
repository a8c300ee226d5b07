"""Prompt-lookup and assisted decoding on the encoder-decoder, and stop strings inside a proposal:
the same tokens as plain greedy search (dynamic and static cache, EOS and the length limit inside
proposals), n-grams looked up in the source when the vocabulary is shared, a cut-back decoder cache
equal to the accepted prefix's from scratch, and the refusals."""

import pytest
import torch

from einformer import GPT, EncoderDecoderConfig, EncoderDecoderTransformer, GPTConfig
from einformer.config import UniversalTransformerConfig
from einformer.data.tokenizer import Tokenizer
from einformer.generation import GenerationConfig, decoders
from einformer.generation.speculative import PromptLookup, make_proposer
from einformer.models.universal import UniversalTransformer
from einformer.nn.packed import is_prepared


def seq2seq(seed=0, shared=True, **kw):
    torch.manual_seed(seed)
    config = EncoderDecoderConfig.from_preset(
        "tiny", src_vocab_size=40, tgt_vocab_size=40, share_embeddings=shared, dropout=0.0, **kw
    )
    return EncoderDecoderTransformer(config).eval()


SOURCES = [[7, 8, 9, 10, 11, 12, 7, 8, 9, 10, 2], [30, 4, 17, 25, 6, 2]]


@pytest.mark.parametrize("cache", ["dynamic", "static"])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("num_tokens", [2, 8])
@pytest.mark.parametrize("max_new", [5, 24])
def test_prompt_lookup_gives_the_greedy_tokens(cache, shared, num_tokens, max_new):
    model = seq2seq(shared=shared)
    for source in SOURCES:
        ids = torch.tensor([source])
        kw = dict(max_new_tokens=max_new, cache_implementation=cache)
        expected = model.generate(ids, **kw)
        got = model.generate(ids, prompt_lookup_num_tokens=num_tokens, max_matching_ngram_size=2, **kw)
        assert got.tolist() == expected.tolist()


def test_eos_inside_a_proposal_ends_where_greedy_ends():
    model = seq2seq()
    ids = torch.tensor([SOURCES[0]])
    for eos in range(3, 40, 4):  # some of these fall inside accepted proposals
        expected = model.generate(ids, max_new_tokens=20, eos_token_id=eos)
        got = model.generate(ids, max_new_tokens=20, eos_token_id=eos, prompt_lookup_num_tokens=6)
        assert got.tolist() == expected.tolist()


def test_with_a_shared_vocabulary_the_source_is_searched_first():
    lookup = PromptLookup(4, 2, source=[7, 8, 9, 10, 11, 2])
    assert lookup.propose(torch.tensor([[1, 8, 9]]), 10, {2}, [])[0] == [10, 11]  # cut before the source's EOS
    assert PromptLookup(4, 2).propose(torch.tensor([[1, 8, 9]]), 10, {2}, [])[0] == []  # the output alone
    padded, mask = torch.tensor([[7, 8, 9, 2, 0, 0]]), torch.tensor([[1, 1, 1, 1, 0, 0]])
    options = GenerationConfig(prompt_lookup_num_tokens=4)
    assert make_proposer(seq2seq(), options, {}, padded, mask).source == [7, 8, 9, 2]  # padding dropped
    assert make_proposer(seq2seq(shared=False), options, {}, padded, mask).source == []  # two vocabularies


@pytest.mark.parametrize("schedule", ["constant", "heuristic"])
@pytest.mark.parametrize("cache", ["dynamic", "static"])
def test_any_assistant_gives_the_greedy_tokens(schedule, cache):
    model = seq2seq(0)
    smaller = seq2seq(3, d_model=32, n_heads=2, n_encoder_layers=1, n_decoder_layers=1, d_ff=64)
    for assistant in (seq2seq(0), smaller):
        for source in SOURCES:
            ids = torch.tensor([source])
            kw = dict(max_new_tokens=15, cache_implementation=cache, eos_token_id=14)
            expected = model.generate(ids, **kw)
            got = model.generate(
                ids, assistant_model=assistant, num_assistant_tokens=4, num_assistant_tokens_schedule=schedule, **kw
            )
            assert got.tolist() == expected.tolist()


def test_an_identical_assistant_needs_fewer_passes(monkeypatch):
    model, draft = seq2seq(0), seq2seq(0)
    ids = torch.tensor([SOURCES[1]])
    plain = model.generate(ids, max_new_tokens=16, eos_token_id=[])
    calls = {"verify": 0}
    original = decoders.Seq2SeqState.verify

    def counted(self, tokens):
        if self.model is model:
            calls["verify"] += 1
        return original(self, tokens)

    monkeypatch.setattr(decoders.Seq2SeqState, "verify", counted)
    got = model.generate(
        ids, max_new_tokens=16, eos_token_id=[], assistant_model=draft, num_assistant_tokens=5,
        assistant_confidence_threshold=0.0,
    )  # fmt: skip
    assert got.tolist() == plain.tolist() and calls["verify"] <= 4, calls


@pytest.mark.parametrize("cache", ["dynamic", "static"])
def test_a_rolled_back_decoder_cache_equals_the_accepted_prefix_from_scratch(cache):
    model = seq2seq()
    source = torch.tensor([SOURCES[0]])
    memory = model.encoder_states(source)
    state = decoders.Seq2SeqState(model, memory, None, cache, 16)
    state.step(torch.tensor([[1, 5, 6]]))
    state.verify(torch.tensor([[8, 9, 10, 11, 12]]))
    state.rollback(5)
    fresh = decoders.Seq2SeqState(model, memory, None, cache, 16)
    fresh.step(torch.tensor([[1, 5, 6, 8, 9]]))
    assert state.cache.length == fresh.cache.length == 5
    for i in range(len(model.decoder_layers)):
        (mine, _), (theirs, _) = state.cache.layer(i), fresh.cache.layer(i)
        torch.testing.assert_close(mine.keys, theirs.keys, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(mine.values, theirs.values, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(state.step(torch.tensor([[4]])), fresh.step(torch.tensor([[4]])), atol=1e-5, rtol=0)


def test_refusals():
    model = seq2seq()
    ids = torch.tensor([SOURCES[0]])
    with pytest.raises(ValueError, match="one prompt at a time"):
        model.generate(torch.tensor([SOURCES[0][:6], SOURCES[1]]), max_new_tokens=3, prompt_lookup_num_tokens=3)
    with pytest.raises(ValueError, match="one prompt at a time"):  # assisted: a batch above 1
        model.generate(torch.tensor([SOURCES[0][:6], SOURCES[1]]), max_new_tokens=3, assistant_model=seq2seq(1))
    small = GPT(GPTConfig.from_preset("tiny", vocab_size=40)).eval()
    with pytest.raises(ValueError, match="one prompt at a time"):
        small.generate(torch.tensor([[5, 6, 7], [1, 2, 3]]), max_new_tokens=3, assistant_model=small)
    with pytest.raises(ValueError, match="not beam search"):
        model.generate(ids, max_new_tokens=3, prompt_lookup_num_tokens=3, num_beams=2)
    other = EncoderDecoderTransformer(EncoderDecoderConfig.from_preset("tiny", src_vocab_size=40, tgt_vocab_size=50))
    with pytest.raises(ValueError, match=r"assistant's vocabulary \(50 tokens\) differs from the model's \(40\)"):
        model.generate(ids, max_new_tokens=3, assistant_model=other)
    gpt = GPT(GPTConfig.from_preset("tiny", vocab_size=40))
    with pytest.raises(ValueError, match="must be an encoder-decoder einformer model"):
        model.generate(ids, max_new_tokens=3, assistant_model=gpt)
    config = UniversalTransformerConfig.from_preset("tiny", src_vocab_size=40, tgt_vocab_size=40)
    universal = UniversalTransformer(config)
    with pytest.raises(ValueError, match="with a key/value cache"):
        universal.generate(ids, max_new_tokens=3, prompt_lookup_num_tokens=3)


def test_stop_strings_inside_a_proposal_stop_where_greedy_stops():
    torch.manual_seed(0)
    tok = Tokenizer.train(["abcdefghijklmnop"], "char")
    model = GPT(GPTConfig.from_preset("tiny", vocab_size=20, dropout=0.0, embedding_dropout=0.0)).eval()
    ids = torch.tensor([[5, 6, 7, 8, 9, 5, 6, 7, 8, 9, 5, 6]])
    full = model.generate(ids, max_new_tokens=20, eos_token_id=[])[0, ids.shape[1] :].tolist()
    text = tok.decode(full)
    for cut in (3, 6, 9):
        stop = text[cut : cut + 2]
        kw = dict(max_new_tokens=20, eos_token_id=[], stop_strings=[stop], tokenizer=tok)
        expected = model.generate(ids, **kw)
        assert model.generate(ids, prompt_lookup_num_tokens=8, **kw).tolist() == expected.tolist()
        assert model.generate(ids, assistant_model=model, num_assistant_tokens=8, **kw).tolist() == expected.tolist()


# assisted sampling, whole sequences: 10^5 draws from two Markov "models" over 4 tokens


class _Cache:
    def __init__(self) -> None:
        self.length = 0

    def crop(self, length: int) -> None:
        self.length = length


class MarkovState:
    """A decoder state whose next-token logits depend on the last token only (a table): the exact
    distribution of any generated sequence is a product of table rows."""

    def __init__(self, table: torch.Tensor) -> None:
        self.table, self.cache = table, _Cache()

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        self.cache.length += tokens.shape[1]
        return self.table[tokens[:, -1]]  # (1, V)

    def verify(self, tokens: torch.Tensor) -> torch.Tensor:
        self.cache.length += tokens.shape[1]
        return self.table[tokens]  # (1, T, V)

    def rollback(self, length: int) -> None:
        self.cache.crop(length)


def test_assisted_sampling_draws_whole_sequences_as_plain_sampling_does():
    """10^5 seeded runs of 3 tokens with a draft unlike the model: the 64 sequences' frequencies
    match the exact p(x1) p(x2 | x1) p(x3 | x2) (chi-square, p > 1e-3)."""
    from einformer.generation.speculative import Assistant, speculative_steps

    from .test_prompt_lookup import p_value

    g = torch.Generator().manual_seed(0)
    target = torch.randn(4, 4, generator=g) * 1.5  # logits: row = previous token
    draft = torch.randn(4, 4, generator=g) * 1.5
    probs = target.softmax(-1)
    prompt = torch.tensor([[2]])
    exact = torch.einsum("a,ab,bc->abc", probs[2], probs, probs).flatten()  # (64,)
    counts = torch.zeros(64)
    generator = torch.Generator().manual_seed(1)
    for _ in range(100_000):
        proposer = Assistant(MarkovState(draft), 2, "constant", None)
        steps = speculative_steps(
            MarkovState(target), prompt, proposer=proposer, max_new_tokens=3, eos_token_id=[-1], pad_token_id=0,
            generator=generator, do_sample=True,
        )  # fmt: skip
        a, b, c = (int(token) for token, *_ in steps)
        counts[a * 16 + b * 4 + c] += 1
    assert p_value(counts, exact) > 1e-3


@pytest.mark.parametrize("cache", ["dynamic", "static"])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("options", [{}, {"norm_first": False, "sinusoid_layout": "halves", "output_bias": True}])
def test_the_prepared_verify_equals_the_plain_decoder_forward(cache, padded, options):
    """Checking proposed target tokens through the prepared modules (fused q/k/v, T rows per sequence, a
    causal mask after the self-attention cache, the memory mask over the cross-attention) gives the
    plain decoder forward's logits and caches: pre-norm, and Marian's post-norm layout with an output
    bias."""
    model = seq2seq(**options)
    if options:
        with torch.no_grad():
            model.lm_head.bias.normal_()  # a non-zero final_logits_bias
    source = torch.tensor([[7, 8, 9, 10, 2, 0, 0], [30, 4, 17, 25, 6, 11, 2]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1] * 7]) if padded else None
    proposed = torch.tensor([[4, 9, 11, 3], [2, 2, 7, 1]])
    states = []
    for fast in (True, False):
        bos, state = decoders.start(model, source, mask, cache, 16, fast=fast)
        state.step(bos)
        state.step(torch.tensor([[5], [6]]))
        states.append((state, state.verify(proposed), is_prepared(model)))
    (fast_state, fast_logits, fast_prepared), (slow_state, slow_logits, slow_prepared) = states
    assert fast_logits.shape == (2, 4, 40)
    assert fast_prepared and not slow_prepared  # the prepared (fused, packed) modules, and the plain ones
    torch.testing.assert_close(fast_logits, slow_logits, atol=1e-5, rtol=1e-5)
    layers = fast_state.cache.self_attention.layers, slow_state.cache.self_attention.layers
    for mine, theirs in zip(*layers, strict=True):
        torch.testing.assert_close(mine.keys, theirs.keys, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(mine.values, theirs.values, atol=1e-6, rtol=1e-5)
