"""The model each task opens when ``pipeline(task)`` is given none: a Hugging Face model name, resolved
through the hub-name loader (``einformer.hub``: the cache, or a download), announced with a warning as
transformers announces its own.

Where transformers' default is of a family einformer reads, it is transformers' default (transformers
5.25's ``SUPPORTED_TASKS``). Otherwise the nearest of a family einformer reads: text-generation
takes GPT-2 (transformers' SmolLM3 is a family einformer does not read), zero-shot-classification a
DeBERTa-v3 MNLI model (transformers' is a BART, which einformer does not read), translation an
OPUS-MT Marian model (English to German), sentence-embeddings all-MiniLM-L6-v2. text2text-generation
has none (transformers' T5 is not a family einformer reads). A default is the repository's main
revision: name a model (and a ``revision``) for anything that must not change.
"""

from __future__ import annotations

import warnings

DEFAULT_MODELS = {
    "fill-mask": "distilbert/distilroberta-base",
    "text-classification": "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
    "token-classification": "dbmdz/bert-large-cased-finetuned-conll03-english",
    "question-answering": "distilbert/distilbert-base-cased-distilled-squad",
    "feature-extraction": "distilbert/distilbert-base-cased",
    "sentence-embeddings": "sentence-transformers/all-MiniLM-L6-v2",
    "text-generation": "openai-community/gpt2",
    "translation": "Helsinki-NLP/opus-mt-en-de",
    "zero-shot-classification": "MoritzLaurer/DeBERTa-v3-base-mnli-fever-anli",
}
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}


def default_model(task: str | None) -> str:
    """The default model's name for ``task``, announced with a warning; a clear error where there is none."""
    name = DEFAULT_MODELS.get(ALIASES.get(task, task)) if task is not None else None
    if name is None:
        raise ValueError(
            f"pipeline({task!r}) needs model=: "
            + ("give a task or a model" if task is None else f"{task} has no default model in einformer")
            + f"; the tasks with a default: {sorted(DEFAULT_MODELS)}"
        )
    warnings.warn(
        f"No model was supplied, defaulted to {name} (https://huggingface.co/{name}, its main revision). Pass "
        "model= (and revision=) to choose the model; a default is not meant for production.",
        UserWarning,
        stacklevel=3,
    )
    return name
