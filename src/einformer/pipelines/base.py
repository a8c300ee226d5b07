"""What every pipeline shares: the model and tokenizer from the single loader, the task's options, and
batching.

A task's options are the keyword-only parameters of its ``__call__`` (and, where it passes ``**options``
on, the names in ``extra_options``: text-generation's are generate's). As in transformers, each may be
given when the pipeline is built (``pipeline("ner", model=..., aggregation_strategy="simple")``: the
pipeline's defaults) or when it is called, the call's value winning; a name the task does not have is
refused, with the task's options listed. Every subclass's ``__call__`` is wrapped once, here
(``__init_subclass__``), so no task repeats it.

Inputs are encoded one by one (``tokenizers`` keeps each text's offsets and special-token mask),
sorted by length, cut into batches of ``batch_size``, padded to the longest of their batch, run
through the model in eval mode under ``torch.no_grad``, and put back in input order; from 256
inputs on, progress counts them (training's ``Progress``: a bar on a terminal, plain lines in a log). Length
sorting is what makes batching pay: a batch of similar lengths wastes little on padding.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence

import torch
from tokenizers import Encoding

from ..auto import Loaded, load
from ..training.progress import Progress

PROGRESS_FROM = 256  # inputs: from this many on, progress (on standard error) shows the batches go by


class Pipeline:
    """A task on a model: ``pipe(inputs, **options)``; subclasses define ``task`` and ``__call__``."""

    task = ""
    model_tasks: tuple[str, ...] = ()  # the registry's tasks (heads) of the models it reads (empty: any)
    extra_options: Iterable[str] = ()  # the names a ``**options`` of ``__call__`` takes (text-generation: generate's)

    def __init__(self, loaded: Loaded, *, tokenizer=None, device: str = "cpu", batch_size: int = 8, **options) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.options = self.check_options(options)  # given when built: the defaults of every call
        self.called_with: frozenset[str] = frozenset()  # the option names the latest call gave itself
        self.loaded, self.device, self.batch_size = loaded, torch.device(device), batch_size
        self.model = self.pick_model(loaded).to(self.device).eval()
        self.tokenizer = tokenizer if tokenizer is not None else loaded.require_tokenizer(self.task)

    def __init_subclass__(cls, **kwargs) -> None:
        """Each task's own ``__call__`` takes the options given when the pipeline was built as defaults."""
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:
            cls.__call__ = _with_built_options(cls.__dict__["__call__"])

    @classmethod
    def option_names(cls) -> list[str]:
        """The task's options: its ``__call__``'s keyword-only parameters, then ``extra_options``."""
        call = inspect.unwrap(cls.__call__)
        named = [p.name for p in inspect.signature(call).parameters.values() if p.kind is p.KEYWORD_ONLY]
        return named + sorted(set(cls.extra_options) - set(named))

    def check_options(self, options: dict) -> dict:
        """``options``, or a clear error naming those the task does not have."""
        names = self.option_names()
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise ValueError(
                f"{self.task} has no option {', '.join(map(repr, unknown))}; its options: {', '.join(names) or 'none'}"
            )
        return dict(options)

    @property
    def id2label(self) -> dict[int, str]:
        """The model config's label names, or a fine-tune run's classes when its config has none."""
        config = self.model.config
        labels = getattr(self.loaded.run, "labels", None)
        if getattr(config, "label_names", None) is None and labels and len(labels) == config.num_labels:
            return {i: str(name) for i, name in enumerate(labels)}
        return config.id2label

    def pick_model(self, loaded: Loaded):
        """The model the task runs; a clear error when the directory has no head for it."""
        family = loaded.family
        if self.model_tasks and family.task_of(loaded.model) not in self.model_tasks:
            heads = [family.models[t].__name__ for t in self.model_tasks if t in family.models] or self.model_tasks
            raise ValueError(
                f"{self.task} needs a model with a {' or '.join(heads)} head; {loaded.path} holds a "
                f"{type(loaded.model).__name__}. Choose a directory saved with that head (a fine-tuned run of that "
                "task, or transformers' model)"
            )
        return loaded.model

    def run_batches(self, encodings: Sequence[Encoding], forward: Callable[[dict], object]) -> list:
        """``forward(batch)`` per length-sorted padded batch; its per-row results back in input order.

        ``forward`` returns one item per row of the batch it got (``batch["input_ids"]`` (b, T)).
        """
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        results: list = [None] * len(encodings)
        bar = Progress(len(order), desc=self.task, unit="input", estimate=False, leave=False,
                       enabled=len(order) >= PROGRESS_FROM)  # fmt: skip
        with torch.no_grad(), bar:
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                batch = self.pad([encodings[i] for i in rows])
                for i, item in zip(rows, forward(batch), strict=True):
                    results[i] = item
                bar.update(len(rows))
        return results

    def pad(self, encodings: Sequence[Encoding]) -> dict:
        """input_ids, attention_mask, token_type_ids (b, T), right-padded to the longest row; token_type_ids
        only where the tokenizer gives them (``model_input_names``: not RoBERTa's, XLM-R's, DistilBERT's)."""
        width = max(len(e.ids) for e in encodings)
        pad_id = self.tokenizer.pad_token_id
        ids = torch.full((len(encodings), width), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        types = torch.zeros_like(ids)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n] = torch.tensor(e.ids)
            mask[row, :n] = 1
            types[row, :n] = torch.tensor(e.type_ids)
        device = self.device
        batch = {"input_ids": ids.to(device), "attention_mask": mask.to(device), "token_type_ids": types.to(device)}
        if "token_type_ids" not in getattr(self.tokenizer, "model_input_names", ("token_type_ids",)):
            del batch["token_type_ids"]
        return batch

    def encode(
        self,
        texts: Sequence[str],
        pairs: Sequence[str | None] | None = None,
        *,
        max_length: int | None = None,
        truncation: str = "longest_first",
    ) -> list[Encoding]:
        """One ``tokenizers`` encoding per text (and pair), truncated to ``max_length`` (default: the
        tokenizer's and the model's limit) by ``truncation`` (``tokenizers``' strategy: "longest_first",
        "only_first", "only_second")."""
        backend = self.tokenizer.backend
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"input {i} is empty ({text!r}); give each input some text")
        limit = min(self.tokenizer.model_max_length, self.model.config.max_position)
        backend.enable_truncation(min(limit, max_length) if max_length else limit, strategy=truncation)
        try:
            if pairs is None:
                return backend.encode_batch(list(texts))
            return [
                backend.encode(text, pair) if pair is not None else backend.encode(text)
                for text, pair in zip(texts, pairs, strict=True)
            ]
        finally:
            backend.no_truncation()


def _with_built_options(call: Callable) -> Callable:
    """``call`` with the options the pipeline was built with under the call's own (checked by name)."""

    @functools.wraps(call)
    def with_options(self, *args, **options):
        self.called_with = frozenset(options)  # the names given by the call itself (text-classification's legacy shape)
        return call(self, *args, **self.check_options({**self.options, **options}))

    return with_options


def as_list(inputs) -> tuple[list, bool]:
    """(the inputs as a list, whether one input was given)."""
    single = isinstance(inputs, str | dict)
    if not single and not isinstance(inputs, list | tuple) and not hasattr(inputs, "__iter__"):
        raise ValueError(f"a pipeline takes a text, a dict or a list of them; got {inputs!r} ({type(inputs).__name__})")
    return ([inputs] if single else list(inputs)), single


def open_model(model) -> Loaded:
    """A path (anything ``einformer.load`` opens) or an already loaded ``Loaded``."""
    return model if isinstance(model, Loaded) else load(model)
