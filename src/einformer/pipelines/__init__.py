"""Pipelines: a pretrained model on raw text, with Hugging Face's task names, call conventions and
output shapes, so code written for ``transformers.pipeline`` ports by changing the import:

    from einformer import pipeline
    fill = pipeline("fill-mask", model="path/to/bert")
    fill("Paris is the [MASK] of France.")

Tasks: fill-mask, text-classification (alias sentiment-analysis), token-classification (alias ner),
question-answering, feature-extraction, sentence-embeddings, text-generation (GPT, Transformer-XL),
translation and text2text-generation (encoder-decoder runs), zero-shot-classification (an NLI model).
``model`` is anything ``einformer.load`` opens, an ``einformer.Loaded``, a model object with its tokenizer,
or nothing (the task's default, ``defaults.py``); a task's options may be given here or at each call;
``batch_size`` inputs run together, sorted by length.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .. import dtypes
from ..auto import AutoTokenizer, Loaded, load, resolve
from ..models import PreTrainedModel
from ..registry import MASKED_LM, QUESTION_ANSWERING, SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION
from .base import Pipeline, open_model
from .defaults import DEFAULT_MODELS, default_model
from .features import FeatureExtractionPipeline, SentenceEmbeddingPipeline, embed, pool, read_pooling
from .fill_mask import FillMaskPipeline
from .question_answering import QuestionAnsweringPipeline
from .text_classification import TextClassificationPipeline
from .text_generation import TextGenerationPipeline
from .token_classification import TokenClassificationPipeline
from .translation import Text2TextPipeline, TranslationPipeline
from .zero_shot import ZeroShotClassificationPipeline

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
    "zero-shot-classification": ZeroShotClassificationPipeline,
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
    task: str | None = None,
    model=None,
    *,
    tokenizer=None,
    device: str | int | torch.device | None = "cpu",
    batch_size: int = 8,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    dtype=None,
    torch_dtype=None,
    **options,
) -> Pipeline:
    """The pipeline of ``task`` on ``model``, as ``transformers.pipeline`` builds it.

    ``model``: a path, a Hugging Face model name resolved through the cache with ``revision``,
    ``cache_dir``, ``local_files_only`` and ``token``, a ``Loaded``, or an einformer model object (with
    its ``tokenizer`` object); None: the task's default model (``defaults.py``, announced with a
    warning). ``tokenizer``: a tokenizer object or a path / name (``AutoTokenizer``); None: the
    model's. ``task=None`` picks it from a fine-tune run's task or the directory's head. ``dtype``
    (``torch_dtype``: transformers' older name): the weights' type, as ``from_pretrained``'s
    (torch.bfloat16, "auto" ...; a model object or a ``Loaded`` is cast to it). ``device``: "cpu",
    "cuda:0", or transformers' integers (-1: the CPU, n: GPU n). ``options``: the task's call options
    (``top_k``, ``aggregation_strategy``, ``max_new_tokens`` ...), the defaults of every call."""
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; einformer's pipelines: {sorted(TASKS)}")
    dtype = dtypes.parse(dtype, torch_dtype)
    if isinstance(tokenizer, str | Path):
        hub_options = {"revision": revision, "cache_dir": cache_dir, "local_files_only": local_files_only}
        tokenizer = AutoTokenizer.from_pretrained(tokenizer, token=token, **hub_options)
    if model is None:
        model = default_model(task)
    if isinstance(model, PreTrainedModel):
        model = Loaded.from_objects(model, tokenizer)
    if not isinstance(model, Loaded):
        model = resolve(model, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)
        model = model if dtype is None else load(model, dtype=dtype)
    elif dtype is not None and dtype != "auto":
        dtypes.cast(model.model, dtype)
    loaded = open_model(model)
    if task is None:
        task = task_of(loaded)
    if device is None or isinstance(device, int):  # transformers' spellings: None or -1 the CPU, n the GPU n
        device = "cpu" if device is None or device < 0 else f"cuda:{device}"
    return TASKS[task](loaded, tokenizer=tokenizer, device=device, batch_size=batch_size, **options)


__all__ = [
    "DEFAULT_MODELS",
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
    "ZeroShotClassificationPipeline",
    "embed",
    "pipeline",
    "pool",
    "read_pooling",
]
