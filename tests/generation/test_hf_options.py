"""The rest of Hugging Face's generate options, each against transformers' generate on a tiny random
GPT-2 with the same weights: the same tokens for every new processor (greedy and beam search), the
same per-step scores, raw logits, beam indices, attentions and hidden states (1e-5), the warpers'
first-step scores when sampling, and clear errors for bad values."""

import pytest
import torch
from torch.testing import assert_close

from einformer import GPT, EncoderDecoderConfig, EncoderDecoderTransformer
from einformer.generation import processors as P

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=24, n_positions=64, n_embd=32, n_layer=2, n_head=4, initializer_range=0.3,
        bos_token_id=1, eos_token_id=2, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    path = tmp_path_factory.mktemp("gpt2")
    transformers.GPT2LMHeadModel(config).save_pretrained(path)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(path, attn_implementation="eager").eval()  # with weights
    return GPT.from_pretrained(path).eval(), theirs


def prompts(batch=3, length=6):
    ids = torch.randint(3, 24, (batch, length), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    if batch > 1:
        mask[1, :2] = 0  # left padding
    return ids.masked_fill(mask == 0, 2), mask


def both(pair, ids, mask, **options):
    ours, theirs = pair
    with torch.no_grad():
        hf_options = {k: v for k, v in options.items() if k != "seed"}  # einformer's reproducible-sampling option
        expected = theirs.generate(ids, attention_mask=mask, pad_token_id=2, **hf_options)
    return ours.generate(ids, mask, pad_token_id=2, **options), expected


GREEDY = {
    "sequence_bias": dict(sequence_bias={(5,): 4.0, (7, 8): -6.0, (9,): -2.5}),
    "sequence_bias_json_form": dict(sequence_bias=[[[5], 4.0], [[3, 4], 5.0]]),
    "forced_eos_token_id": dict(forced_eos_token_id=2),
    "exponential_decay_length_penalty": dict(exponential_decay_length_penalty=(2, 1.8)),
    "begin_suppress_tokens": dict(begin_suppress_tokens=list(range(3, 14))),
    "renormalize_logits": dict(renormalize_logits=True, repetition_penalty=1.5),
    "remove_invalid_values": dict(remove_invalid_values=True, suppress_tokens=[4]),
    "guidance_scale": dict(guidance_scale=1.7),
}


CASES = [(o, b) for o in GREEDY for b in (1, 3) if not (o == "guidance_scale" and b > 1)]


@pytest.mark.parametrize(("name", "num_beams"), CASES, ids=[f"{o}-beams{b}" for o, b in CASES])
def test_each_processor_gives_transformers_tokens_and_scores(pair, name, num_beams):
    """(Guidance with beams is left out: transformers' unconditional branch is not reordered with the
    beams, so each row's branch reads the tokens its row position held; einformer's reads each beam's
    own tokens. test_guidance_follows_each_beams_own_tokens checks einformer's.)"""
    options = GREEDY[name]
    batch = 1 if "guidance_scale" in options else 3  # HF's unbatched guidance: one prompt
    ids, mask = prompts(batch)
    kw = dict(max_new_tokens=8, num_beams=num_beams, do_sample=False, return_dict_in_generate=True, output_scores=True)
    got, expected = both(pair, ids, mask, **options, **kw)
    assert got.sequences.tolist() == expected.sequences.tolist()
    assert len(got.scores) == len(expected.scores)
    for a, b in zip(got.scores, expected.scores, strict=True):
        assert_close(a.masked_fill(a.isinf(), 0), b.masked_fill(b.isinf(), 0), atol=1e-5, rtol=1e-5)
        assert torch.equal(a.isinf(), b.isinf())


def test_forced_bos_on_one_token_prompts(pair):
    ids = torch.tensor([[5], [9]])
    got, expected = both(pair, ids, None, max_new_tokens=4, do_sample=False, forced_bos_token_id=11)
    assert got.tolist() == expected.tolist() and got[:, 1].tolist() == [11, 11]


def test_guidance_with_a_negative_prompt(pair):
    ids, mask = prompts(1)
    negative = torch.tensor([[4, 6, 8]])
    got, expected = both(
        pair, ids, mask, max_new_tokens=8, do_sample=False, guidance_scale=2.5, negative_prompt_ids=negative
    )
    plain = pair[0].generate(ids, mask, max_new_tokens=8, pad_token_id=2)
    assert got.tolist() == expected.tolist() and got.tolist() != plain.tolist()


def test_guidance_follows_each_beams_own_tokens(pair):
    model = pair[0]
    prompt = torch.tensor([[5, 9, 4]])
    rows = torch.tensor([[5, 9, 4, 7, 3], [5, 9, 4, 11, 12]])  # two beams of one prompt
    scores = model(rows).logits[:, -1]
    guided = P.ClassifierFreeGuidance(1.7, model, prompt.shape[1], None, None)(rows, scores)
    unconditional = model(torch.tensor([[4, 7, 3], [4, 11, 12]])).logits[:, -1].log_softmax(-1)
    assert_close(guided, 1.7 * (scores.log_softmax(-1) - unconditional) + unconditional, atol=1e-6, rtol=0)


def test_beam_indices_logits_and_scores_equal_transformers(pair):
    ids, mask = prompts()
    kw = dict(
        max_new_tokens=7, num_beams=4, num_return_sequences=2, do_sample=False, length_penalty=0.8,
        return_dict_in_generate=True, output_scores=True, output_logits=True,
    )  # fmt: skip
    got, expected = both(pair, ids, mask, **kw)
    assert got.sequences.tolist() == expected.sequences.tolist()
    assert got.beam_indices.tolist() == expected.beam_indices.tolist()
    assert_close(got.sequences_scores, expected.sequences_scores, atol=1e-5, rtol=0)
    for ours, theirs in ((got.scores, expected.scores), (got.logits, expected.logits)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_attentions_hidden_states_and_logits_of_each_step_equal_transformers(pair):
    ids, mask = prompts()
    kw = dict(
        max_new_tokens=5, do_sample=False, return_dict_in_generate=True,
        output_attentions=True, output_hidden_states=True, output_logits=True,
    )  # fmt: skip
    got, expected = both(pair, ids, mask, **kw)
    assert got.sequences.tolist() == expected.sequences.tolist()
    real = mask.bool()  # the prompt's padding positions are no query anyone reads
    for step, (a_step, b_step) in enumerate(zip(got.attentions, expected.attentions, strict=True)):
        for a, b in zip(a_step, b_step, strict=True):  # one (N, H, T, S) per layer
            assert a.shape == b.shape
            if step == 0:
                a, b = a.transpose(1, 2)[real], b.transpose(1, 2)[real]
            assert_close(a, b, atol=1e-5, rtol=1e-5)
    for step, (a_step, b_step) in enumerate(zip(got.hidden_states, expected.hidden_states, strict=True)):
        assert len(a_step) == len(b_step) == 3  # embeddings, two layers (the last after the final LayerNorm)
        for a, b in zip(a_step, b_step, strict=True):
            assert_close(a[real] if step == 0 else a, b[real] if step == 0 else b, atol=1e-5, rtol=1e-5)
    for a, b in zip(got.logits, expected.logits, strict=True):
        assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("options", [dict(epsilon_cutoff=0.05), dict(eta_cutoff=0.2), dict(eta_cutoff=0.02, top_k=0)])
def test_sampling_cutoffs_give_transformers_first_step_scores(pair, options):
    ids, mask = prompts()
    kw = dict(max_new_tokens=1, do_sample=True, return_dict_in_generate=True, output_scores=True, **options)
    got, expected = both(pair, ids, mask, seed=0, **kw)
    a, b = got.scores[0], expected.scores[0]
    assert torch.equal(a.isinf(), b.isinf()) and bool((~a.isinf()).sum(-1).ge(1).all())
    assert_close(a.masked_fill(a.isinf(), 0), b.masked_fill(b.isinf(), 0), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "options",
    [
        dict(top_k=0),
        dict(temperature=0.6, top_p=0.8),
        dict(top_k=8, repetition_penalty=1.3, num_return_sequences=2),
        dict(min_p=0.1, typical_p=0.9),
    ],
)
def test_seeded_sampling_gives_transformers_tokens_with_its_random_stream(pair, options):
    """sampler="multinomial" draws with torch.multinomial, as transformers does: after the same
    torch.manual_seed, the same tokens (batch with left padding, several sequences per prompt)."""
    ours, theirs = pair
    ids, mask = prompts()
    kw = dict(max_new_tokens=12, min_new_tokens=12, do_sample=True, pad_token_id=2, **options)
    with torch.no_grad():
        torch.manual_seed(5)
        expected = theirs.generate(ids, attention_mask=mask, **kw)
        torch.manual_seed(5)
        got = ours.generate(ids, mask, sampler="multinomial", **kw)
    assert got.tolist() == expected.tolist()


def test_an_unknown_sampler_is_named(pair):
    with pytest.raises(ValueError, match="sampler must be one of"):
        pair[0].generate(torch.tensor([[3, 4]]), max_new_tokens=2, do_sample=True, sampler="gumbel")


@pytest.mark.parametrize("keep", [1, 3])
def test_cutoff_warpers_equal_transformers_on_varied_rows(keep):
    g = torch.Generator().manual_seed(3)
    rows = torch.cat([torch.randn(6, 50, generator=g) * s for s in (0.3, 1.0, 4.0, 12.0)])  # flat to peaked
    for ours, theirs in (
        (P.EpsilonCutoff(3e-2, keep), transformers.EpsilonLogitsWarper(3e-2, min_tokens_to_keep=keep)),
        (P.EtaCutoff(4e-3, keep), transformers.EtaLogitsWarper(4e-3, min_tokens_to_keep=keep)),
        (P.EtaCutoff(0.3, keep), transformers.EtaLogitsWarper(0.3, min_tokens_to_keep=keep)),
    ):
        assert torch.equal(ours(None, rows).isinf(), theirs(None, rows).isinf())


def test_encoder_decoder_traces_equal_its_teacher_forced_pass():
    """No transformers oracle for einformer's own encoder-decoder: each step's decoder and
    cross-attention rows equal the teacher-forced pass over the generated tokens."""
    torch.manual_seed(0)
    model = EncoderDecoderTransformer(EncoderDecoderConfig.from_preset("tiny", src_vocab_size=40, tgt_vocab_size=40))
    model.eval()
    src = torch.randint(4, 40, (2, 7))
    out = model.generate(
        src, max_new_tokens=4, return_dict_in_generate=True, output_attentions=True, output_hidden_states=True
    )
    forced = model(src, decoder_input_ids=out.sequences[:, :-1], output_attentions=True)
    assert len(out.decoder_attentions) == len(out.cross_attentions) == out.sequences.shape[1] - 1
    for step, cross in enumerate(out.cross_attentions):
        for layer, weights in enumerate(cross):
            assert_close(weights[:, :, -1], forced.cross_attentions[layer][:, :, step], atol=1e-6, rtol=1e-5)
    for layer, weights in enumerate(out.encoder_attentions):
        assert_close(weights, forced.encoder_attentions[layer], atol=1e-6, rtol=1e-5)
    assert len(out.encoder_hidden_states) == 3 and len(out.decoder_hidden_states[0]) == 3
    assert_close(out.encoder_hidden_states[-1], forced.encoder_last_hidden_state, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "options, phrase",
    [
        (dict(epsilon_cutoff=1.5, do_sample=True), "epsilon_cutoff=1.5 must be in [0, 1)"),
        (dict(sequence_bias={5: 1.0}), "sequence_bias={5: 1.0} must map token-id sequences"),
        (dict(sequence_bias={(99,): 1.0}), "token ids [99] beyond the vocabulary of 24"),
        (dict(exponential_decay_length_penalty=(3,)), "must be (start index >= 0, decay factor > 0)"),
        (dict(output_attentions=True), "need return_dict_in_generate=True"),
        (dict(begin_suppress_tokens=5), "begin_suppress_tokens=5 must be a list of token ids"),
    ],
)
def test_bad_values_name_the_option_and_the_fix(pair, options, phrase):
    ids, mask = prompts()
    with pytest.raises(ValueError, match=phrase.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        pair[0].generate(ids, mask, max_new_tokens=3, **options)


def test_guidance_is_refused_where_it_does_not_apply():
    model = EncoderDecoderTransformer(EncoderDecoderConfig.from_preset("tiny", src_vocab_size=40, tgt_vocab_size=40))
    with pytest.raises(ValueError, match="guidance_scale applies to decoder-only models"):
        model.generate(torch.randint(4, 40, (1, 5)), max_new_tokens=2, guidance_scale=2.0)
