"""Pipelines on RoBERTa, XLM-RoBERTa, DistilBERT and ELECTRA directories that transformers saves (tiny
random models, tokenizers of each family's kind), against ``transformers.pipeline`` on the same
directory: fill-mask, text-classification, token-classification (every aggregation, entities with
character offsets), feature-extraction, on text with accents, Chinese characters, an e-mail address,
repeated spaces and long words. transformers 5 has no question-answering pipeline: ours is held to
the best span of transformers' own model and tokenizer, found by brute force. Then `einformer
finetune` of a tiny RoBERTa and a tiny DeBERTa-v3 for classify and tag, `einformer export`, and
transformers' pipeline on the export gives our predictions."""

import json
import warnings

import pytest
import torch

from einformer import pipeline
from tests.encoder_models import FAMILIES, PREFIX, SAMPLE, TAGS, same, save_model

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

MASKED = [
    "Paris is the {mask} of France.",
    "Café {mask} in São Paulo, said Zoë.",
    "我爱{mask}京 and jane.doe@example.com",
    "two   {mask}    spaces",
]


@pytest.fixture(scope="module", params=FAMILIES)
def dirs(request, tmp_path_factory):
    family, root = request.param, tmp_path_factory.mktemp(request.param)
    return family, {
        "mlm": save_model(family, "ForMaskedLM", root / "mlm"),
        "cls": save_model(family, "ForSequenceClassification", root / "cls", initializer_range=0.1,
                          id2label={0: "negative", 1: "neutral", 2: "positive"}),
        "ner": save_model(family, "ForTokenClassification", root / "ner", spread=3.0, id2label=dict(enumerate(TAGS))),
        "qa": save_model(family, "ForQuestionAnswering", root / "qa", spread=3.0),
    }  # fmt: skip


def theirs(task, path, **kw):
    return transformers.pipeline(task, model=str(path), device="cpu", **kw)


def test_fill_mask(dirs):
    family, d = dirs
    ours, hf = pipeline("fill-mask", d["mlm"], batch_size=3), theirs("fill-mask", d["mlm"])
    texts = [t.format(mask=ours.tokenizer.mask_token) for t in MASKED]
    same(ours(texts), hf(texts))
    same(ours(texts, top_k=2), hf(texts, top_k=2))
    mask = ours.tokenizer.mask_token
    two = f"{mask} and {mask} again."
    same(ours(two, top_k=2), hf(two, top_k=2))


def test_text_classification(dirs):
    family, d = dirs
    ours, hf = pipeline("text-classification", d["cls"], batch_size=4), theirs("text-classification", d["cls"])
    for options in (dict(), dict(top_k=None)):
        same(ours(SAMPLE, **options), hf(SAMPLE, **options))
    pair = {"text": SAMPLE[0], "text_pair": SAMPLE[2]}
    same(ours(pair), hf(pair))
    scores = [r["score"] for r in ours(SAMPLE)]
    assert max(scores) - min(scores) > 1e-3  # the inputs are told apart


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_token_classification(dirs, strategy):
    family, d = dirs
    ours = pipeline("token-classification", d["ner"], batch_size=4)
    hf = theirs("token-classification", d["ner"], aggregation_strategy=strategy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # transformers: a BPE / unigram tokenizer has no word boundaries
        expected = hf(SAMPLE, ignore_labels=[])
    got = ours(SAMPLE, aggregation_strategy=strategy, ignore_labels=[])
    same(got, expected)
    assert len({e.get("entity", e.get("entity_group")) for entities in got for e in entities}) >= 2
    same(ours(SAMPLE, aggregation_strategy=strategy), [[e for e in x if e.get("entity", e.get("entity_group")) != "O"]
                                                       for x in expected])  # fmt: skip


def test_feature_extraction(dirs):
    family, d = dirs
    ours, hf = pipeline("feature-extraction", d["ner"]), theirs("feature-extraction", d["ner"])
    for text in SAMPLE:
        torch.testing.assert_close(torch.tensor(ours(text)), torch.tensor(hf(text)), atol=1e-4, rtol=0)


def test_question_answering_finds_transformers_best_span(dirs):
    """One window, words not aligned: the best span of transformers' start x end probabilities over the
    context tokens (and the first token), at most 15 tokens long, and its characters."""
    family, d = dirs
    model = getattr(transformers, PREFIX[family] + "ForQuestionAnswering").from_pretrained(d["qa"]).eval()
    tok = transformers.AutoTokenizer.from_pretrained(d["qa"])
    qa = pipeline("question-answering", d["qa"])
    for question, context in [("Who opened it?", SAMPLE[0]), ("Where to write?", SAMPLE[2]), ("And?", SAMPLE[3])]:
        enc = tok(question, context, return_offsets_mapping=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping")[0]
        with torch.no_grad():
            out = model(**{k: v for k, v in enc.items() if k in tok.model_input_names})
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


@pytest.mark.parametrize("family", ["roberta", "deberta-v2"])
def test_finetune_then_export_for_transformers(tmp_path, capsys, family):
    from einformer.cli import main

    base = save_model(family, "Model", tmp_path / "base")
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
        with pytest.warns(UserWarning, match="start from random values"):  # a new head
            assert main(argv) == 0, capsys.readouterr().err
        assert main(["export", str(run), str(exported)]) == 0
        config = json.loads((exported / "config.json").read_text())
        assert config["model_type"] == family
        if task == "classify":
            assert set(config["id2label"].values()) == set(words)
            same(pipeline("text-classification", run)(SAMPLE, top_k=None),
                 theirs("text-classification", exported)(SAMPLE, top_k=None))  # fmt: skip
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = theirs("token-classification", exported)(SAMPLE, ignore_labels=[])
            same(pipeline("token-classification", run)(SAMPLE, ignore_labels=[]), expected)
