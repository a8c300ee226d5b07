"""text-generation against transformers' pipeline on a tiny GPT-2 directory: ``num_return_sequences``
with seeded sampling (the same tokens after the same ``torch.manual_seed``: the pipeline samples with
transformers' random stream) and with beams, for one prompt and several (prompt after prompt, as
transformers' pipeline runs them, with ``batch_size=1``); transformers 5's pipeline
defaults (sampling at temperature 0.7) where neither the call nor the generation config chooses."""

import pytest
import torch

from einformer import pipeline
from tests.pipelines.conftest import theirs

pytestmark = pytest.mark.hf

PROMPTS = ["Paris is the capital", "The quick brown fox"]


@pytest.fixture(scope="module")
def both(dirs):
    return pipeline("text-generation", model=dirs["gpt2"]), theirs("text-generation", dirs["gpt2"])


def seeded(pipe, inputs, seed=3, **options):
    torch.manual_seed(seed)
    return pipe(inputs, **options)


@pytest.mark.parametrize(
    "options",
    [
        dict(do_sample=True, num_return_sequences=3, max_new_tokens=8),
        dict(do_sample=True, num_return_sequences=2, max_new_tokens=6, top_k=5, temperature=1.3),
        dict(num_return_sequences=2, max_new_tokens=6, return_full_text=False),  # the pipeline's default: sampling
        dict(num_beams=3, num_return_sequences=2, do_sample=False, max_new_tokens=6),
        dict(num_beams=2, num_return_sequences=2, do_sample=True, max_new_tokens=5),
    ],
)
def test_num_return_sequences_equals_transformers(both, options):
    ours, hf = both
    got = seeded(ours, PROMPTS[0], **options)
    assert got == seeded(hf, PROMPTS[0], **options)
    assert len(got) == options["num_return_sequences"] and all(set(g) == {"generated_text"} for g in got)


def test_several_prompts_are_grouped_per_prompt(dirs, both):
    _, hf = both
    one_at_a_time = pipeline("text-generation", model=dirs["gpt2"], batch_size=1)  # transformers' batching
    options = dict(do_sample=True, num_return_sequences=2, max_new_tokens=4)
    got = seeded(one_at_a_time, PROMPTS, **options)
    torch.manual_seed(3)  # transformers' pipeline on a list starts a DataLoader, which draws a seed: call it per prompt
    assert got == [hf(prompt, **options) for prompt in PROMPTS]
    assert [len(g) for g in got] == [2, 2] and all(g["generated_text"].startswith(p) for p, r in
                                                   zip(PROMPTS, got, strict=True) for g in r)  # fmt: skip
    beams = dict(num_beams=3, num_return_sequences=3, do_sample=False, max_new_tokens=4)
    assert both[0](PROMPTS, **beams) == hf(PROMPTS, **beams)  # left-padded together: the same beams


def test_the_pipeline_defaults_are_transformers(both):
    ours, hf = both
    assert ours.generate_options({}) == {"max_new_tokens": 256, "do_sample": True, "temperature": 0.7,
                                         "sampler": "multinomial"}  # fmt: skip
    assert ours.generate_options({"do_sample": False}) == {"do_sample": False, "max_new_tokens": 256}
    assert seeded(ours, PROMPTS[1], max_new_tokens=10) == seeded(hf, PROMPTS[1], max_new_tokens=10)
