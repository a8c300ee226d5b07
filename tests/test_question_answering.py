"""The question-answering pipeline against transformers v4's (v5 removed it): fixtures written by
tests/fixtures/make_qa_fixtures.py with transformers 4.57.6 on a tiny BERT QA model whose head
points at "zebra". The same answers, character offsets and scores (1e-4) for every case and option:
a context of 437 tokens, more than three windows of max_seq_len=128 and nine of 48, with the answer
in the last window; accents, Chinese characters, an e-mail address, repeated spaces, a word split
into many pieces; top_k, handle_impossible_answer, max_answer_len, align_to_words. Bad input is
refused by name."""

import json
from pathlib import Path

import pytest

from einformer import pipeline

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "qa_expected.json").read_text(encoding="utf-8"))["results"]


@pytest.fixture(scope="module")
def qa():
    return pipeline("question-answering", FIXTURES / "qa_tiny", batch_size=4)


def answers(result):
    return result if isinstance(result, list) else [result]


@pytest.mark.parametrize("index", range(len(EXPECTED)), ids=lambda i: f"{EXPECTED[i]['options']}-{i % 4}")
def test_answers_equal_transformers_v4(qa, index):
    case = EXPECTED[index]
    got = qa(**case["case"], **case["options"])
    assert isinstance(got, list) == isinstance(case["answer"], list)
    for a, b in zip(answers(got), answers(case["answer"]), strict=True):
        assert (a["answer"], a["start"], a["end"]) == (b["answer"], b["start"], b["end"])
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)


def test_the_answer_in_the_last_window_is_found(qa):
    long = next(c for c in EXPECTED if c["case"]["question"] == "Which animal?")["case"]
    backend = qa.tokenizer.backend
    assert len(backend.encode(long["context"]).ids) > 3 * 128
    zebra = long["context"].rindex("zebra")
    found = qa(**long, top_k=5)
    assert any(a["answer"] == "zebra" and a["start"] == zebra for a in found)


def test_batched_inputs_equal_one_by_one(qa):
    cases = [c["case"] for c in EXPECTED[:4]]
    assert qa(cases) == [qa(**c) for c in cases]
    assert qa(question=[c["question"] for c in cases], context=[c["context"] for c in cases]) == qa(cases)


@pytest.mark.parametrize(
    "kwargs, phrase",
    [
        (dict(question="", context="a zebra"), "the question is empty"),
        (dict(question="who?", context="  "), "the context is empty"),
        (dict(question="who " * 60, context="a zebra", max_seq_len=64), "tokens of context per window of"),
        (dict(question="who?", context="a zebra", doc_stride=200, max_seq_len=64), "doc_stride (200) must be smaller"),
        (dict(question="who?"), "needs a question and a context"),
    ],
)
def test_bad_input_is_refused_by_name(qa, kwargs, phrase):
    with pytest.raises(ValueError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        qa(**kwargs)


@pytest.mark.filterwarnings("ignore:.*no pooler weights")
def test_a_model_without_a_qa_head_is_refused(tmp_path):
    from einformer import BertModel, load

    tokenizer = load(FIXTURES / "qa_tiny").tokenizer
    encoder = load(FIXTURES / "qa_tiny").encoder
    encoder.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert isinstance(load(tmp_path).model, BertModel)
    with pytest.raises(ValueError, match="question-answering needs a model with a BertForQuestionAnswering head"):
        pipeline("question-answering", tmp_path)
