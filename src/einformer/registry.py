"""The registry of model families: one record per family, read by everything that used to branch on
a model type.

A ``Family`` holds, as data, what differs from one family to the next: its config class, its model
class for each task, its Hugging Face format (config.json's ``model_type`` there, and the strict
key-map reader and writer of ``interop/``), how its directories keep their tokenizers, the training
job that trains it, and what `einformer train`'s size flags mean for its config. Its readers:

* ``einformer.load`` / ``AutoModel`` / ``AutoTokenizer`` (``auto.py``): which class a config.json
  opens as, and the tokenizer(s) beside it;
* ``PreTrainedModel.from_pretrained`` / ``save_pretrained(format="hf")`` (``models/base.py``): a
  Hugging Face directory of the model's own family;
* ``einformer train --model`` (its choices), ``TrainSpec`` and the recipes (the config class, the
  model class of the task, the flags), ``--init-from``, and ``einformer export``.

The built-in records are in ``families/``, one file each, registered by ``families/__init__.py``
when einformer is imported. ``register`` adds another (a test's tiny family, a plugin's). This module
imports no model: models/ reads it and families/ fills it, so the imports stay one-way.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

from .generation.kinds import KINDS

# ---------------------------------------------------------------- tasks a family's classes serve
BASE = "base"  # the bare model (an encoder's hidden states)
CAUSAL_LM = "causal-lm"
MASKED_LM = "masked-lm"
PRETRAINING = "pretraining"  # masked LM + next-sentence prediction
SEQ2SEQ_LM = "seq2seq-lm"
SEQUENCE_CLASSIFICATION = "sequence-classification"
TOKEN_CLASSIFICATION = "token-classification"
QUESTION_ANSWERING = "question-answering"
MULTIPLE_CHOICE = "multiple-choice"
REPLACED_TOKEN_DETECTION = "replaced-token-detection"  # ELECTRA's discriminator: was each token replaced?
TASKS = (
    BASE,
    CAUSAL_LM,
    MASKED_LM,
    PRETRAINING,
    SEQ2SEQ_LM,
    SEQUENCE_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
    QUESTION_ANSWERING,
    MULTIPLE_CHOICE,
    REPLACED_TOKEN_DETECTION,
)
# `einformer finetune --task` -> the model task it trains (and a fine-tune run loads as)
FINETUNE_TASKS = MappingProxyType(
    {
        "classify": SEQUENCE_CLASSIFICATION,
        "regress": SEQUENCE_CLASSIFICATION,
        "tag": TOKEN_CLASSIFICATION,
        "qa": QUESTION_ANSWERING,
        "choice": MULTIPLE_CHOICE,
    }
)

# ---------------------------------------------------------------- the training jobs (recipes/)
LANGUAGE_MODEL = "language-model"  # recipes/language_model.py: next-token prediction on a text file
SEQ2SEQ = "seq2seq"  # recipes/seq2seq.py: pairs, a built-in task or the user's files
MASKED_LM_PRETRAINING = "masked-lm"  # recipes/bert_pretrain.py: masked LM (+ next sentence) on lines
RECIPES = (LANGUAGE_MODEL, SEQ2SEQ, MASKED_LM_PRETRAINING)

# `einformer train`'s size and architecture flags (TrainSpec fields) -> the config fields they set;
# a family whose record leaves a flag out refuses it by name
STANDARD_FLAGS = MappingProxyType(
    {
        "layers": ("n_layers",),
        "d_model": ("d_model",),
        "heads": ("n_heads",),
        "d_ff": ("d_ff",),
        "dropout": ("dropout",),
        "norm_first": ("norm_first",),
    }
)


@dataclasses.dataclass
class Tokenizers:
    """What a directory holds for a family: its tokenizer (seq2seq: the target side), the source side
    of a seq2seq model, or, when there is none einformer reads, ``problem`` saying why."""

    tokenizer: object | None = None
    source: object | None = None
    problem: str | None = None


@dataclasses.dataclass(frozen=True, eq=False)  # one record per family: compared by identity
class Family:
    """One model family, as data (see the module docstring).

    Args:
        config_class: the family's ``BaseConfig``; its ``model_type`` is the family's name.
        models: task (``TASKS``) -> model class. The first entry is what a directory without a head
            (or without a task that picks one) loads as.
        read_tokenizers: ``(directory, huggingface) -> Tokenizers``, what a directory of the family
            holds (``huggingface``: in the Hugging Face format, else einformer's).
        save_tokenizers: ``(Tokenizers, directory)``: writes them as the reader reads them back.
        hf_model_types: config.json's ``model_type`` of the family's Hugging Face format.
        load_hf: ``(model class, directory, **config_changes) -> model``, the strict key-map reader.
        save_hf: ``(model, directory) -> directory``, the writer; None: no Hugging Face format out.
        hf_export: ``(model, Tokenizers, where) -> Tokenizers``, run by `einformer export --format hf`
            before anything is written: the tokenizers in the format's own kind (may refuse, naming
            ``where``), the model's generation defaults as transformers should read them.
        recipe: the training job (``RECIPES``) that `einformer train` runs for it; None: not trained
            by `einformer train`.
        train_name: its name for `einformer train --model` (default: the family's name).
        train_flags: `einformer train`'s flags -> the config fields they set (``STANDARD_FLAGS``).
    """

    config_class: type
    models: Mapping[str, type]
    read_tokenizers: Callable[[Path, bool], Tokenizers]
    save_tokenizers: Callable[[Tokenizers, Path], None]
    hf_model_types: tuple[str, ...] = ()
    load_hf: Callable | None = None
    save_hf: Callable | None = None
    hf_export: Callable | None = None
    recipe: str | None = None
    train_name: str | None = None
    train_flags: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=lambda: STANDARD_FLAGS)

    def __post_init__(self) -> None:
        where = f"family {getattr(self.config_class, 'model_type', self.config_class)!r}"
        if not self.models:
            raise ValueError(f"{where}: models is empty; give at least its bare or language-model class")
        unknown = sorted(set(self.models) - set(TASKS))
        if unknown:
            raise ValueError(f"{where}: unknown task(s) {unknown} in models; tasks are {list(TASKS)}")
        for task, cls in self.models.items():
            if getattr(cls, "config_class", None) is not self.config_class:
                raise ValueError(
                    f"{where}: models[{task!r}] ({cls.__name__}) does not read {self.config_class.__name__}"
                )
        if bool(self.hf_model_types) != (self.load_hf is not None):
            raise ValueError(f"{where}: hf_model_types and load_hf go together (a Hugging Face format needs both)")
        if self.recipe is not None and self.recipe not in RECIPES:
            raise ValueError(f"{where}: recipe {self.recipe!r} is not one of {list(RECIPES)}")
        object.__setattr__(self, "models", MappingProxyType(dict(self.models)))
        object.__setattr__(self, "train_flags", MappingProxyType(dict(self.train_flags)))

    @property
    def name(self) -> str:
        """einformer's ``model_type`` (config.json of einformer's format)."""
        return self.config_class.model_type

    @property
    def default_model(self) -> type:
        return next(iter(self.models.values()))

    @property
    def bare_model(self) -> type:
        """The model without a task head (an encoder's), else the default one."""
        return self.models.get(BASE, self.default_model)

    @property
    def kind(self) -> str | None:
        """How the family generates ("causal", "seq2seq", "memory"; ``generation/kinds.py``), None for an encoder."""
        return next((k.kind for k in KINDS if issubclass(self.default_model, k)), None)

    def generates(self, *kinds: type) -> bool:
        """Whether the family's models are of one of ``kinds`` (``CausalLM``, ``Seq2SeqLM``, ``MemoryLM``)."""
        return issubclass(self.default_model, kinds)

    def model_for(self, task: str) -> type:
        """The class of ``task``; a clear error when the family has none."""
        if task not in self.models:
            raise ValueError(f"a {self.name} model has no {task} class; its tasks are {list(self.models)}")
        return self.models[task]

    def task_of(self, model) -> str | None:
        """The task whose class ``model`` is (exactly), or None."""
        return next((task for task, cls in self.models.items() if type(model) is cls), None)


# The one mutable table of the package: ``register`` and ``unregister`` write it, at import time
# (families/__init__.py) or in a test (``registered``).
_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add ``family``; a second family of the same name, train name or Hugging Face model_type is refused."""
    clash = [
        f"{what} {value!r} (family {other.name!r})"
        for other in _FAMILIES.values()
        for what, mine, theirs in (
            ("name", {family.name}, {other.name}),
            ("train name", {train_name(family)} - {None}, {train_name(other)}),
            ("Hugging Face model_type", set(family.hf_model_types), set(other.hf_model_types)),
        )
        for value in sorted(mine & theirs)
    ]
    if clash:
        raise ValueError(f"cannot register family {family.name!r}: already registered: {', '.join(clash)}")
    _FAMILIES[family.name] = family
    return family


def unregister(name: str) -> None:
    _FAMILIES.pop(name, None)


@contextlib.contextmanager
def registered(family: Family) -> Iterator[Family]:
    """``family`` registered inside the ``with`` block only (tests)."""
    register(family)
    try:
        yield family
    finally:
        unregister(family.name)


def families() -> tuple[Family, ...]:
    """Every registered family, in registration order."""
    return tuple(_FAMILIES.values())


def get(name: str) -> Family:
    """The family of einformer's ``model_type`` ``name``."""
    if name not in _FAMILIES:
        raise ValueError(f"unknown model family {name!r}; einformer has {list(_FAMILIES)}")
    return _FAMILIES[name]


def of(model_or_class) -> Family:
    """The family of a model (or model class), by its config class."""
    config_class = getattr(model_or_class, "config_class", None)
    for family in _FAMILIES.values():
        if family.config_class is config_class:
            return family
    name = model_or_class.__name__ if isinstance(model_or_class, type) else type(model_or_class).__name__
    raise ValueError(f"{name} belongs to no registered model family (its config class is {config_class})")


def for_config(config: dict, *, huggingface_allowed: bool = True) -> tuple[Family, bool] | None:
    """The family a config.json opens as, and whether in the Hugging Face format; None when no family reads it.

    A config written by einformer (it has ``einformer_version``) is einformer's format, even where
    its model_type is also a Hugging Face one ("bert")."""
    model_type = config.get("model_type")
    if not isinstance(model_type, str):  # a damaged config.json: no family, and the caller names the file
        return None
    if huggingface_allowed and "einformer_version" not in config:
        for family in _FAMILIES.values():
            if model_type in family.hf_model_types:
                return family, True
    if model_type in _FAMILIES:
        return _FAMILIES[model_type], False
    return None


def model_types() -> list[str]:
    """Every model_type a config.json may have: einformer's and the Hugging Face formats'."""
    return sorted({*_FAMILIES, *(t for f in _FAMILIES.values() for t in f.hf_model_types)})


def train_name(family: Family) -> str | None:
    """``einformer train --model``'s name of ``family``; None when it is not trained by `einformer train`."""
    return (family.train_name or family.name) if family.recipe is not None else None


def train_names() -> tuple[str, ...]:
    """The choices of ``einformer train --model``."""
    return tuple(train_name(f) for f in _FAMILIES.values() if f.recipe is not None)


def by_train_name(name: str) -> Family:
    for family in _FAMILIES.values():
        if family.recipe is not None and train_name(family) == name:
            return family
    raise ValueError(f"--model {name!r}: choose one of {train_names()}")


def names(*kinds: type) -> tuple[str, ...]:
    """The families whose models are of one of ``kinds`` (``generation/kinds.py``), in registration order."""
    return tuple(f.name for f in _FAMILIES.values() if f.generates(*kinds))
