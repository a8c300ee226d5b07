"""Pipelines on tiny random ModernBERT directories that transformers saves, against
``transformers.pipeline`` on the same directory: fill-mask (the top k, scores within 1e-4),
text-classification, token-classification (entities with character offsets), feature-extraction, on
text with accents, Chinese characters, an e-mail address, repeated spaces and long words.
transformers 5 has no question-answering pipeline: ours is held to the best span of transformers'
own model and tokenizer, found by brute force."""

import warnings

import pytest
import torch

from einformer import pipeline
from tests.encoder_models import SAMPLE, TAGS, same
from tests.modernbert_models import save_model

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

MASKED = [
    "Paris is the [MASK] of France.",
    "Café [MASK] in São Paulo, said Zoë.",
    "我爱[MASK]京 and jane.doe@example.com",
    "two   [MASK]    spaces",
]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("modernbert")
    return {
        "mlm": save_model("ForMaskedLM", root / "mlm", spread=0.3),
        "cls": save_model("ForSequenceClassification", root / "cls", spread=0.2,
                          id2label={0: "negative", 1: "neutral", 2: "positive"}),
        "ner": save_model("ForTokenClassification", root / "ner", spread=0.2, id2label=dict(enumerate(TAGS))),
        "qa": save_model("ForQuestionAnswering", root / "qa", spread=0.2),
    }  # fmt: skip


def theirs(task, path, **kw):
    return transformers.pipeline(task, model=str(path), device="cpu", **kw)


def test_fill_mask_top_k_equals_transformers(dirs):
    ours, hf = pipeline("fill-mask", dirs["mlm"], batch_size=3), theirs("fill-mask", dirs["mlm"])
    same(ours(MASKED), hf(MASKED))
    same(ours(MASKED, top_k=10), hf(MASKED, top_k=10))
    two = "[MASK] and [MASK] again."
    same(ours(two, top_k=2), hf(two, top_k=2))
    assert len({r[0]["token"] for r in ours(MASKED)}) > 1  # the inputs are told apart


def test_text_classification(dirs):
    ours, hf = pipeline("text-classification", dirs["cls"], batch_size=4), theirs("text-classification", dirs["cls"])
    same(ours(SAMPLE, top_k=None), hf(SAMPLE, top_k=None))
    pair = {"text": SAMPLE[0], "text_pair": SAMPLE[2]}
    same(ours(pair), hf(pair))
    assert len({r["label"] for r in ours(SAMPLE)}) >= 2


@pytest.mark.parametrize("strategy", ["none", "simple", "max"])
def test_token_classification(dirs, strategy):
    ours = pipeline("token-classification", dirs["ner"], batch_size=4)
    hf = theirs("token-classification", dirs["ner"], aggregation_strategy=strategy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # transformers: a byte-level BPE has no word boundaries
        expected = hf(SAMPLE, ignore_labels=[])
    got = ours(SAMPLE, aggregation_strategy=strategy, ignore_labels=[])
    same(got, expected)
    assert len({e.get("entity", e.get("entity_group")) for entities in got for e in entities}) >= 2


def test_feature_extraction(dirs):
    ours = pipeline("feature-extraction", dirs["ner"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf = theirs("feature-extraction", dirs["ner"])
    for text in SAMPLE:
        torch.testing.assert_close(torch.tensor(ours(text)), torch.tensor(hf(text)), atol=1e-4, rtol=0)


def test_question_answering_finds_transformers_best_span(dirs):
    """One window, words not aligned: the best span of transformers' start x end probabilities over the
    context tokens (and the first token), at most 15 tokens long, and its characters."""
    model = transformers.ModernBertForQuestionAnswering.from_pretrained(dirs["qa"]).eval()
    tok = transformers.AutoTokenizer.from_pretrained(dirs["qa"])
    qa = pipeline("question-answering", dirs["qa"])
    for question, context in [("Who opened it?", SAMPLE[0]), ("Where to write?", SAMPLE[2]), ("And?", SAMPLE[3])]:
        enc = tok(question, context, return_offsets_mapping=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping")[0]
        with torch.no_grad():
            out = model(**enc)
        context_tokens = torch.tensor([s == 1 for s in enc.sequence_ids(0)])
        allowed = context_tokens.clone()
        allowed[0] = True
        start = out.start_logits[0].double().masked_fill(~allowed, -10000.0).softmax(-1)
        end = out.end_logits[0].double().masked_fill(~allowed, -10000.0).softmax(-1)
        spans = [(s, e) for s in range(len(start)) for e in range(s, min(s + 15, len(end)))]
        best = max((float(start[s] * end[e]), s, e) for s, e in spans if context_tokens[s] and context_tokens[e])
        got = qa(question=question, context=context, align_to_words=False)
        a, b = int(offsets[best[1]][0]), int(offsets[best[2]][1])
        assert (got["start"], got["end"], got["answer"]) == (a, b, context[a:b])
        assert got["score"] == pytest.approx(best[0], abs=1e-4)


@pytest.mark.slow
def test_finetune_then_export_for_transformers(tmp_path, capsys):
    """`einformer finetune` of a tiny ModernBERT for classify and tag, `einformer export`, and transformers'
    pipeline on the export gives our predictions."""
    import json

    from einformer.cli import main

    base = save_model("Model", tmp_path / "base")
    words = ["good", "bad", "meh"]
    classify = [{"text": f"{w} Café number {i}", "label": w} for i, w in enumerate(words * 6)]
    tag = [{"tokens": ["Zoë", "visited", "São", "Paulo", str(i)], "tags": ["B-PER", "O", "B-LOC", "I-LOC", "O"]}
           for i in range(12)]  # fmt: skip
    for task, records in (("classify", classify), ("tag", tag)):
        data = tmp_path / f"{task}.jsonl"
        data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        run, exported = tmp_path / f"run-{task}", tmp_path / f"exported-{task}"
        argv = ["finetune", "--model", str(base), "--task", task, "--data", str(data), "--val", str(data),
                "--run-dir", str(run), "--steps", "3", "--eval-every", "3", "--save-every", "3",
                "--no-progress"]  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the new head starts from random values
            assert main(argv) == 0, capsys.readouterr().err
        assert main(["export", str(run), str(exported)]) == 0
        assert json.loads((exported / "config.json").read_text())["model_type"] == "modernbert"
        if task == "classify":
            same(pipeline("text-classification", run)(SAMPLE, top_k=None),
                 theirs("text-classification", exported)(SAMPLE, top_k=None))  # fmt: skip
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = theirs("token-classification", exported)(SAMPLE, ignore_labels=[])
            same(pipeline("token-classification", run)(SAMPLE, ignore_labels=[]), expected)
