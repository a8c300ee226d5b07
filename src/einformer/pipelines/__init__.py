"""Pipelines: a pretrained model on raw text, with Hugging Face's task names, call conventions and
output shapes, so code written for ``transformers.pipeline`` ports by changing the import:

    from einformer import pipeline
    fill = pipeline("fill-mask", model="path/to/bert")
    fill("Paris is the [MASK] of France.")

Tasks: fill-mask, text-classification (alias sentiment-analysis), token-classification (alias ner),
feature-extraction, sentence-embeddings, text-generation. ``model`` is anything ``einformer.load``
opens (or an ``einformer.Loaded``); ``batch_size`` inputs run together, sorted by length.
"""

from __future__ import annotations

from .base import Pipeline, open_model
from .features import FeatureExtractionPipeline, SentenceEmbeddingPipeline, pool, read_pooling
from .fill_mask import FillMaskPipeline
from .text_classification import TextClassificationPipeline
from .text_generation import TextGenerationPipeline
from .token_classification import TokenClassificationPipeline

TASKS: dict[str, type[Pipeline]] = {
    "fill-mask": FillMaskPipeline,
    "text-classification": TextClassificationPipeline,
    "sentiment-analysis": TextClassificationPipeline,
    "token-classification": TokenClassificationPipeline,
    "ner": TokenClassificationPipeline,
    "feature-extraction": FeatureExtractionPipeline,
    "sentence-embeddings": SentenceEmbeddingPipeline,
    "text-generation": TextGenerationPipeline,
}


def pipeline(task: str, model, *, tokenizer=None, device: str = "cpu", batch_size: int = 8) -> Pipeline:
    """The pipeline of ``task`` on ``model`` (a path or a ``Loaded``)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; einformer's pipelines: {sorted(TASKS)}")
    return TASKS[task](open_model(model), tokenizer=tokenizer, device=device, batch_size=batch_size)


__all__ = [
    "TASKS",
    "FeatureExtractionPipeline",
    "FillMaskPipeline",
    "Pipeline",
    "SentenceEmbeddingPipeline",
    "TextClassificationPipeline",
    "TextGenerationPipeline",
    "TokenClassificationPipeline",
    "pipeline",
    "pool",
    "read_pooling",
]
