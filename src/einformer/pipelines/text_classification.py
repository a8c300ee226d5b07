"""text-classification: labels with scores for a text or a text pair, as transformers gives them.

``function_to_apply`` defaults as in transformers: none for regression, sigmoid for multi-label
classification or a single label, softmax otherwise. ``top_k=1`` (the default) gives each input's
best label as a dict; an explicit ``top_k`` (None: every label) a list sorted by score. One text's
result comes in a list unless the call itself gives ``top_k`` (transformers' legacy rule, which reads
the call's options only: ``pipeline(..., top_k=None)(text)`` is ``[[...]]``). Labels come
from the config's ``id2label`` (``label_names``; LABEL_i where a model names none). A pair is a dict
``{"text": ..., "text_pair": ...}``.
"""

from __future__ import annotations

import torch

from ..registry import SEQUENCE_CLASSIFICATION
from .base import Pipeline, as_list

FUNCTIONS = ("softmax", "sigmoid", "none")
DEFAULT = object()  # top_k not given: transformers' legacy single-dict output


class TextClassificationPipeline(Pipeline):
    task = "text-classification"
    model_tasks = (SEQUENCE_CLASSIFICATION,)

    def __call__(self, inputs, *, top_k=DEFAULT, function_to_apply: str | None = None):
        items, single = as_list(inputs)
        function = function_to_apply or self.default_function()
        if function not in FUNCTIONS:
            raise ValueError(f"function_to_apply={function_to_apply!r}: choose one of {FUNCTIONS}")
        texts = [item["text"] if isinstance(item, dict) else item for item in items]
        pairs = [item.get("text_pair") if isinstance(item, dict) else None for item in items]
        encodings = self.encode(texts, pairs if any(p is not None for p in pairs) else None)
        id2label = self.id2label

        def forward(batch):
            logits = self.model(**batch).logits.float()
            scores = {"softmax": logits.softmax(-1), "sigmoid": logits.sigmoid(), "none": logits}[function]
            return [self.labels(row, id2label, top_k) for row in scores]

        results = self.run_batches(encodings, forward)
        if single:  # as transformers: one text's result in a list unless the call gives top_k; a pair's alone
            return [results[0]] if isinstance(inputs, str) and "top_k" not in self.called_with else results[0]
        return results

    def default_function(self) -> str:
        c = self.model.config
        if c.problem_type == "regression":
            return "none"
        if c.problem_type == "multi_label_classification" or c.num_labels == 1:
            return "sigmoid"
        return "softmax"

    @staticmethod
    def labels(scores: torch.Tensor, id2label: dict, top_k):
        if top_k is DEFAULT:
            best = int(scores.argmax())
            return {"label": id2label[best], "score": float(scores[best])}
        ranked = sorted(({"label": id2label[i], "score": float(s)} for i, s in enumerate(scores)),
                        key=lambda d: d["score"], reverse=True)  # fmt: skip
        return ranked if top_k is None else ranked[:top_k]
