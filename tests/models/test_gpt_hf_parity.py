"""Parity with Hugging Face transformers on tiny random GPT-2 models with the same weights."""

import pytest
import torch
from torch.testing import assert_close

from einformer import GPT

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A random GPT2LMHeadModel (peaky, so argmax ties are impossible) and ours loaded from it."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=20,
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=4,
        initializer_range=0.3,
        bos_token_id=1,
        eos_token_id=2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    theirs = transformers.GPT2LMHeadModel(config).eval()
    path = tmp_path_factory.mktemp("gpt2")
    theirs.save_pretrained(path)
    return GPT.from_pretrained(path).eval(), theirs


def prompts():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 20, (3, 6), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :2] = 0  # left padding
    mask[2, :4] = 0
    return ids.masked_fill(mask == 0, 2), mask


def test_logits_match_both_ways(pair, tmp_path):
    ours, theirs = pair
    ids, mask = prompts()
    position_ids = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    with torch.no_grad():
        expected = theirs(ids, attention_mask=mask, position_ids=position_ids).logits
    got = ours(ids, attention_mask=mask).logits
    real = mask.bool()
    assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)
    ours.save_pretrained(tmp_path, format="hf")  # and back: ours -> HF format -> transformers
    again = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert_close(again(ids).logits, theirs(ids).logits, atol=0, rtol=0)


def hf_generate(model, ids, mask, **kw):
    with torch.no_grad():
        return model.generate(ids, attention_mask=mask, pad_token_id=2, do_sample=False, **kw)


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(repetition_penalty=1.8),
        dict(no_repeat_ngram_size=2),
        dict(bad_words_ids=[[5], [7, 8]]),
        dict(min_new_tokens=6),
        dict(suppress_tokens=[3, 4]),
    ],
    ids=["greedy", "repetition_penalty", "no_repeat_ngram", "bad_words", "min_new_tokens", "suppress"],
)
def test_greedy_matches_token_for_token(pair, options):
    ours, theirs = pair
    ids, mask = prompts()
    expected = hf_generate(theirs, ids, mask, max_new_tokens=12, **options)
    got = ours.generate(ids, mask, max_new_tokens=12, **options)
    assert got.tolist() == expected.tolist()


@pytest.mark.parametrize("length_penalty", [0.0, 0.6, 1.0, 2.0])
@pytest.mark.parametrize("early_stopping", [True, False, "never"])
def test_beam_search_matches_with_scores(pair, length_penalty, early_stopping):
    ours, theirs = pair
    ids, mask = prompts()
    kw = dict(
        max_new_tokens=8,
        num_beams=3,
        num_return_sequences=2,
        length_penalty=length_penalty,
        early_stopping=early_stopping,
    )
    expected = hf_generate(theirs, ids, mask, return_dict_in_generate=True, output_scores=True, **kw)
    got = ours.generate(ids, mask, return_dict_in_generate=True, output_scores=True, **kw)
    assert got.sequences.tolist() == expected.sequences.tolist()
    assert_close(got.sequences_scores, expected.sequences_scores, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "options",
    [dict(repetition_penalty=1.5), dict(no_repeat_ngram_size=2), dict(bad_words_ids=[[4]]), dict(min_new_tokens=5)],
)
def test_beam_search_with_processors_matches(pair, options):
    ours, theirs = pair
    ids, mask = prompts()
    kw = dict(max_new_tokens=8, num_beams=4, **options)
    assert ours.generate(ids, mask, **kw).tolist() == hf_generate(theirs, ids, mask, **kw).tolist()


def _draft(tmp_path_factory, seed: int):
    """A smaller random GPT-2 with the same vocabulary, for assisted decoding."""
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=20, n_positions=64, n_embd=16, n_layer=1, n_head=2, initializer_range=0.3,
        bos_token_id=1, eos_token_id=2, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    theirs = transformers.GPT2LMHeadModel(config).eval()
    path = tmp_path_factory.mktemp(f"draft{seed}")
    theirs.save_pretrained(path)
    return GPT.from_pretrained(path).eval(), theirs


REPEATING = [[5, 6, 7, 8, 9, 5, 6, 7, 8, 9, 5, 6], [11, 3, 14, 3, 11, 3, 14]]


@pytest.mark.parametrize("num_tokens", [2, 5, 10])
@pytest.mark.parametrize("ngram", [1, 2, 3])
def test_prompt_lookup_gives_transformers_tokens(pair, num_tokens, ngram):
    ours, theirs = pair
    for prompt in REPEATING:
        ids = torch.tensor([prompt])
        kw = dict(
            max_new_tokens=20, do_sample=False, prompt_lookup_num_tokens=num_tokens, max_matching_ngram_size=ngram
        )
        expected = theirs.generate(ids, attention_mask=torch.ones_like(ids), pad_token_id=2, **kw)
        assert ours.generate(ids, **kw).tolist() == expected.tolist()


@pytest.mark.parametrize("schedule", ["constant", "heuristic"])
def test_assisted_decoding_gives_transformers_tokens(pair, tmp_path_factory, schedule):
    ours, theirs = pair
    for seed in (3, 4):
        draft_ours, draft_theirs = _draft(tmp_path_factory, seed)
        for prompt in REPEATING:
            ids = torch.tensor([prompt])
            kw = dict(
                max_new_tokens=20, do_sample=False, num_assistant_tokens=4, num_assistant_tokens_schedule=schedule
            )
            expected = theirs.generate(
                ids, attention_mask=torch.ones_like(ids), pad_token_id=2, assistant_model=draft_theirs, **kw
            )
            assert ours.generate(ids, assistant_model=draft_ours, **kw).tolist() == expected.tolist()
