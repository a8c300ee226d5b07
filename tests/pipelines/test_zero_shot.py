"""zero-shot-classification against transformers' ZeroShotClassificationPipeline on the same tiny NLI
directories (a RoBERTa labelled contradiction / neutral / entailment, a DistilBERT labelled
ENTAILMENT / NEUTRAL / CONTRADICTION): the same labels in the same order and the same scores, for one
text and several, one label and several, multi_label, a template of one's own, labels as one
comma-separated text or a positional argument, options given when built; clear errors."""

import pytest

from einformer import pipeline
from tests.encoder_models import SAMPLE
from tests.pipelines.conftest import same, theirs

pytestmark = pytest.mark.hf

LABELS = ["travel", "food", "cooking and baking", "politics"]


OPTIONS = [
    dict(candidate_labels=LABELS),
    dict(candidate_labels=LABELS, multi_label=True),
    dict(candidate_labels=["travel"]),
    dict(candidate_labels="travel, food ,politics", hypothesis_template="Der Text handelt von {}."),
]


@pytest.mark.parametrize("name", ["nli", "nli-upper"])
def test_zero_shot_equals_transformers(dirs, name):
    ours = pipeline("zero-shot-classification", model=dirs[name], batch_size=5)
    hf = theirs("zero-shot-classification", dirs[name])
    for options in OPTIONS:
        same(ours(SAMPLE[:3], **options), hf(SAMPLE[:3], **options), tolerance=1e-5)
        same(ours(SAMPLE[4], **options), hf(SAMPLE[4], **options), tolerance=1e-5)


def test_labels_given_when_built_or_positionally(dirs):
    hf = theirs("zero-shot-classification", dirs["nli"], candidate_labels=LABELS, multi_label=True)
    built = pipeline("zero-shot-classification", model=dirs["nli"], candidate_labels=LABELS, multi_label=True)
    same(built(SAMPLE), hf(SAMPLE), tolerance=1e-5)
    plain = pipeline("zero-shot-classification", model=dirs["nli"])
    same(plain(SAMPLE[1], LABELS[:2]), theirs("zero-shot-classification", dirs["nli"])(SAMPLE[1], LABELS[:2]))


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("cls", dict(candidate_labels=LABELS), "needs a model trained for natural-language inference, with an 'entail"),
        ("nli", dict(candidate_labels=LABELS, hypothesis_template="About it."), "has no {} where the label goes"),
        ("nli", dict(candidate_labels=[]), "give the labels to choose from"),
        ("nli", dict(), "give the labels to choose from"),
        ("mlm", dict(candidate_labels=LABELS), "needs a model with a RobertaForSequenceClassification head"),
    ],
)
def test_bad_models_and_options_are_refused(dirs, name, options, message):
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        pipeline("zero-shot-classification", model=dirs[name])(SAMPLE[0], **options)
