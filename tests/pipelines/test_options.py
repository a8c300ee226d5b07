"""Task options given when the pipeline is built or when it is called, as in transformers (the call's
value wins; an unknown name is refused, the task's options listed); model and tokenizer objects;
``dtype`` and ``torch_dtype``. The oracle: ``transformers.pipeline`` built with the same options on the
same directory, outputs equal in value and in type."""

import pytest
import torch

from einformer import GPT, AutoModel, AutoTokenizer, pipeline
from tests.encoder_models import SAMPLE
from tests.pipelines.conftest import same, theirs

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


@pytest.mark.parametrize(
    "task, name, options",
    [
        ("ner", "ner", dict(aggregation_strategy="simple")),
        ("text-classification", "cls", dict(top_k=None)),
        ("sentiment-analysis", "cls", dict(top_k=2, function_to_apply="sigmoid")),
        ("fill-mask", "mlm", dict(top_k=2)),
    ],
)
def test_options_given_when_built_equal_transformers(dirs, task, name, options):
    texts = [SAMPLE[0].replace("São", "<mask>"), "Paris is the <mask> of France."] if name == "mlm" else SAMPLE
    ours, hf = pipeline(task, model=dirs[name], **options), theirs(task, dirs[name], **options)
    same(ours(texts), hf(texts))
    same(ours(texts[1]), hf(texts[1]))


def test_the_call_overrides_the_options_given_when_built(dirs):
    ours = pipeline("ner", model=dirs["ner"], aggregation_strategy="simple")
    hf = theirs("ner", dirs["ner"], aggregation_strategy="simple")
    same(ours(SAMPLE, aggregation_strategy="first", ignore_labels=[]), hf(SAMPLE, aggregation_strategy="first",
                                                                         ignore_labels=[]))  # fmt: skip
    same(ours(SAMPLE), hf(SAMPLE))  # the built option again
    classify = pipeline("text-classification", model=dirs["cls"], top_k=None)
    same(classify(SAMPLE, top_k=1), theirs("text-classification", dirs["cls"], top_k=None)(SAMPLE, top_k=1))


def test_text_generation_options_when_built(dirs):
    ours = pipeline("text-generation", model=dirs["gpt2"], max_new_tokens=5, do_sample=False)
    hf = theirs("text-generation", dirs["gpt2"], max_new_tokens=5, do_sample=False)
    assert ours("Paris is the") == hf("Paris is the")
    assert ours("Paris is the", max_new_tokens=3, return_full_text=False) == hf(
        "Paris is the", max_new_tokens=3, return_full_text=False
    )


@pytest.mark.parametrize(
    "task, name, bad, listed",
    [
        ("token-classification", "ner", "aggregation", "aggregation_strategy, ignore_labels"),
        ("text-classification", "cls", "topk", "top_k, function_to_apply"),
        ("text-generation", "gpt2", "max_tokens", "return_full_text, continue_final_message"),
    ],
)
def test_an_unknown_option_is_refused_by_name(dirs, task, name, bad, listed):
    message = f"{task} has no option '{bad}'; its options: {listed}"
    with pytest.raises(ValueError, match=message):
        pipeline(task, model=dirs[name], **{bad: 1})
    pipe = pipeline(task, model=dirs[name])
    with pytest.raises(ValueError, match=message):
        pipe("Paris is the capital", **{bad: 1})


def test_model_and_tokenizer_objects(dirs):
    model, tok = AutoModel.from_pretrained(dirs["cls"]), AutoTokenizer.from_pretrained(dirs["cls"])
    expected = theirs("text-classification", dirs["cls"], top_k=None)(SAMPLE)
    same(pipeline("text-classification", model=model, tokenizer=tok, top_k=None)(SAMPLE), expected)
    same(pipeline("text-classification", model=model, tokenizer=str(dirs["cls"]), top_k=None)(SAMPLE), expected)
    gpt = GPT.from_pretrained(dirs["gpt2"])
    options = dict(max_new_tokens=6, do_sample=False)
    generate = pipeline("text-generation", model=gpt, tokenizer=AutoTokenizer.from_pretrained(dirs["gpt2"]))
    assert generate("Paris is", **options) == theirs("text-generation", dirs["gpt2"])("Paris is", **options)


def test_a_model_object_without_its_tokenizer_is_refused(dirs):
    with pytest.raises(ValueError, match="a GPT object comes without its tokenizer; pass tokenizer= as well"):
        pipeline("text-generation", model=GPT.from_pretrained(dirs["gpt2"]))


@pytest.mark.parametrize("keyword", ["dtype", "torch_dtype"])
def test_dtype_and_torch_dtype(dirs, keyword):
    pipe = pipeline("text-classification", model=dirs["cls"], top_k=None, **{keyword: torch.bfloat16})
    assert {p.dtype for p in pipe.model.parameters()} == {torch.bfloat16}
    hf = theirs("text-classification", dirs["cls"], top_k=None, dtype=torch.bfloat16)
    assert {p.dtype for p in hf.model.parameters()} == {torch.bfloat16}
    for got, expected in zip(pipe(SAMPLE), hf(SAMPLE), strict=True):  # bf16 in both: scores within its precision
        expected = {e["label"]: e["score"] for e in expected}
        assert all(abs(g["score"] - expected[g["label"]]) < 2e-2 for g in got)
    objects = pipeline("text-classification", model=AutoModel.from_pretrained(dirs["cls"]),
                       tokenizer=AutoTokenizer.from_pretrained(dirs["cls"]), **{keyword: "bfloat16"})  # fmt: skip
    assert {p.dtype for p in objects.model.parameters()} == {torch.bfloat16}


def test_a_marian_model_object_translates_as_transformers(tmp_path):
    """A translation model object with the tokenizer AutoTokenizer gives (the source side; the target
    side follows from it), options given when built: transformers' MarianMTModel.generate's text."""
    from tests.interop.test_marian import SOURCES, _hf_tokenizer, _save_marian

    directory = _save_marian(tmp_path / "opus-mt-tiny")
    hf, tok = transformers.MarianMTModel.from_pretrained(directory).eval(), _hf_tokenizer(directory)
    texts = SOURCES[:2]
    with torch.no_grad():
        ids = hf.generate(**tok(texts, return_tensors="pt", padding=True), num_beams=2)
    model = AutoModel.from_pretrained(directory)
    translate = pipeline("translation", model=model, tokenizer=AutoTokenizer.from_pretrained(directory), num_beams=2)
    assert [r[0]["translation_text"] for r in translate(texts)] == tok.batch_decode(ids, skip_special_tokens=True)


def test_transformers_device_spellings(dirs):
    for device in (-1, None, "cpu", torch.device("cpu")):
        pipe = pipeline("text-classification", model=dirs["cls"], device=device)
        assert pipe.device == torch.device("cpu") and next(pipe.model.parameters()).device == torch.device("cpu")
