"""``pipeline(task)`` without a model: the task's default by Hugging Face name, resolved through the
hub-name loader and announced with a warning. Offline, against a Hugging Face cache (huggingface_hub's
layout, in a temporary HF_HOME) holding tiny models under the defaults' names; the oracle is
transformers' pipeline on the same directory."""

import hashlib
from pathlib import Path

import pytest

from einformer import pipeline
from einformer.pipelines import DEFAULT_MODELS, TASKS
from tests.encoder_models import SAMPLE
from tests.pipelines.conftest import same, theirs
from tests.test_hub import put_in_cache, use_hub

pytestmark = pytest.mark.hf


@pytest.fixture
def cache(dirs, tmp_path, monkeypatch):
    for task, name in (("fill-mask", "mlm"), ("text-classification", "cls"), ("zero-shot-classification", "nli")):
        commit = hashlib.sha1(task.encode()).hexdigest()
        put_in_cache(tmp_path / "hub", DEFAULT_MODELS[task], dirs[name], commit)
    use_hub(monkeypatch, tmp_path, offline=True)
    return tmp_path


def test_the_default_model_is_resolved_by_name_and_announced(dirs, cache):
    with pytest.warns(UserWarning, match="No model was supplied, defaulted to distilbert/distilroberta-base"):
        fill = pipeline("fill-mask")
    text = "Paris is the <mask> of France."
    same(fill(text), theirs("fill-mask", dirs["mlm"])(text))
    with pytest.warns(UserWarning, match="defaulted to distilbert/distilbert-base-uncased-finetuned-sst-2-english"):
        classify = pipeline("sentiment-analysis", top_k=None)
    same(classify(SAMPLE), theirs("text-classification", dirs["cls"], top_k=None)(SAMPLE))
    with pytest.warns(UserWarning, match="defaulted to MoritzLaurer/DeBERTa-v3-base-mnli-fever-anli"):
        zero_shot = pipeline("zero-shot-classification")
    assert zero_shot(SAMPLE[0], ["a", "b"])["labels"] in (["a", "b"], ["b", "a"])


def test_a_task_without_a_default_asks_for_a_model(cache):
    with pytest.raises(ValueError, match="text2text-generation has no default model in einformer"):
        pipeline("text2text-generation")
    with pytest.raises(ValueError, match="give a task or a model"):
        pipeline()


def test_every_default_is_a_task_and_documented():
    assert set(DEFAULT_MODELS) <= set(TASKS)
    guide = (Path(__file__).parents[2] / "docs" / "pipelines.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in guide for name in DEFAULT_MODELS.values())
