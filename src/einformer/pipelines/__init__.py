"""Pipelines: a pretrained model on raw text, with Hugging Face's task names, call conventions and
output shapes, so code written for ``transformers.pipeline`` ports by changing the import:

    from einformer import pipeline
    fill = pipeline("fill-mask", model="path/to/bert")
    fill("Paris is the [MASK] of France.")

Tasks: fill-mask, text-classification (alias sentiment-analysis), token-classification (alias ner),
question-answering, feature-extraction, sentence-embeddings, text-generation (GPT, Transformer-XL),
translation and text2text-generation (encoder-decoder runs). ``model`` is anything ``einformer.load``
opens (or an ``einformer.Loaded``); ``batch_size`` inputs run together, sorted by length.
"""

from __future__ import annotations

from pathlib import Path

from .. import dtypes
from ..auto import Loaded, load, resolve
from ..registry import MASKED_LM, QUESTION_ANSWERING, SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION
from .base import Pipeline, open_model
from .features import FeatureExtractionPipeline, SentenceEmbeddingPipeline, embed, pool, read_pooling
from .fill_mask import FillMaskPipeline
from .question_answering import QuestionAnsweringPipeline
from .text_classification import TextClassificationPipeline
from .text_generation import TextGenerationPipeline
from .token_classification import TokenClassificationPipeline
from .translation import Text2TextPipeline, TranslationPipeline

TASKS: dict[str, type[Pipeline]] = {
    "fill-mask": FillMaskPipeline,
    "text-classification": TextClassificationPipeline,
    "sentiment-analysis": TextClassificationPipeline,
    "token-classification": TokenClassificationPipeline,
    "ner": TokenClassificationPipeline,
    "feature-extraction": FeatureExtractionPipeline,
    "sentence-embeddings": SentenceEmbeddingPipeline,
    "text-generation": TextGenerationPipeline,
    "question-answering": QuestionAnsweringPipeline,
    "translation": TranslationPipeline,
    "text2text-generation": Text2TextPipeline,
}


# the pipeline that reads raw text for each task of `einformer finetune`
FINETUNE_TASKS = {
    "classify": "text-classification",
    "regress": "text-classification",
    "tag": "token-classification",
    "qa": "question-answering",
}


# the pipeline that reads raw text for each task head (``registry.TASKS``) a directory is saved with
HEAD_TASKS = {
    SEQUENCE_CLASSIFICATION: "text-classification",
    TOKEN_CLASSIFICATION: "token-classification",
    QUESTION_ANSWERING: "question-answering",
    MASKED_LM: "fill-mask",
}


def task_of(loaded) -> str:
    """The task a fine-tune run was trained for, or the one its model's head does."""
    run_task = getattr(loaded.run, "task", None)
    if run_task in FINETUNE_TASKS:
        return FINETUNE_TASKS[run_task]
    head = loaded.family.task_of(loaded.model)
    if loaded.run is None and head in HEAD_TASKS:
        return HEAD_TASKS[head]
    name = type(loaded.model).__name__
    raise ValueError(
        f"{loaded.path} holds a {name}{f' ({run_task} run)' if run_task else ''}: raw-text predictions need a run "
        f"fine-tuned for {sorted(FINETUNE_TASKS)} or a directory with a classification, tagging or QA head"
    )


def pipeline(
    task: str | None,
    model,
    *,
    tokenizer=None,
    device: str = "cpu",
    batch_size: int = 8,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    dtype=None,
) -> Pipeline:
    """The pipeline of ``task`` on ``model`` (a path, a Hugging Face model name resolved through the cache
    with ``revision``, ``cache_dir``, ``local_files_only`` and ``token``, or a ``Loaded``). ``task=None``
    picks it from a fine-tune run's task (classify, regress, tag, qa). ``dtype``: the weights' type, as
    ``from_pretrained``'s (torch.bfloat16, "auto" ...; a ``Loaded`` is cast to it)."""
    if not isinstance(model, Loaded):
        model = resolve(model, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)
        model = model if dtype is None else load(model, dtype=dtype)
    elif dtype is not None and dtype != "auto":
        dtypes.cast(model.model, dtypes.parse(dtype))
    loaded = open_model(model)
    if task is None:
        task = task_of(loaded)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; einformer's pipelines: {sorted(TASKS)}")
    return TASKS[task](loaded, tokenizer=tokenizer, device=device, batch_size=batch_size)


__all__ = [
    "TASKS",
    "FeatureExtractionPipeline",
    "FillMaskPipeline",
    "Pipeline",
    "QuestionAnsweringPipeline",
    "SentenceEmbeddingPipeline",
    "TextClassificationPipeline",
    "Text2TextPipeline",
    "TextGenerationPipeline",
    "TranslationPipeline",
    "TokenClassificationPipeline",
    "embed",
    "pipeline",
    "pool",
    "read_pooling",
]
