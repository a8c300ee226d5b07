"""zero-shot-classification: any labels, with a model trained for natural-language inference (NLI), as
transformers' ZeroShotClassificationPipeline does it (Yin et al. 2019, "Benchmarking zero-shot text
classification").

Each candidate label becomes a hypothesis (``hypothesis_template.format(label)``, "This example is
{}." by default); the model reads (text, hypothesis) as a premise and hypothesis pair and scores
contradiction / neutral / entailment. The model is any sequence-classification model whose labels
include one that starts with "entail" (case ignored: ENTAILMENT, entailment), the label transformers
looks for. With one text, one label is true: the softmax of the entailment logits over the labels.
With ``multi_label`` (or a single label) each label is judged alone: the softmax of its
[contradiction, entailment] logits (contradiction: label 0, or the last when entailment is 0),
its entailment share the score. The output is ``{"sequence", "labels", "scores"}``, labels sorted by
score; the pair is truncated from the text, never the hypothesis.
"""

from __future__ import annotations

import torch

from ..registry import SEQUENCE_CLASSIFICATION
from .base import Pipeline, as_list

HYPOTHESIS = "This example is {}."


class ZeroShotClassificationPipeline(Pipeline):
    task = "zero-shot-classification"
    model_tasks = (SEQUENCE_CLASSIFICATION,)

    def __init__(self, loaded, **kwargs) -> None:
        super().__init__(loaded, **kwargs)
        self.entailment = self.entailment_id()

    def __call__(
        self, inputs, *args, candidate_labels=None, hypothesis_template: str = HYPOTHESIS, multi_label: bool = False
    ):
        if len(args) > 1:
            raise ValueError(f"{self.task} takes the texts and the candidate labels; got {len(args)} more arguments")
        candidate_labels = args[0] if args else candidate_labels  # classifier(text, ["a", "b"]), as transformers
        texts, single = as_list(inputs)
        labels = self.labels(candidate_labels)
        hypotheses = self.hypotheses(labels, hypothesis_template)
        n = len(labels)
        pairs = [(text, h) for text in texts for h in hypotheses]  # text-major: row i * n + j is text i, label j
        encodings = self.encode([p[0] for p in pairs], [p[1] for p in pairs], truncation="only_first")

        def forward(batch):
            return list(self.model(**batch).logits.float())  # (b, classes) rows

        logits = torch.stack(self.run_batches(encodings, forward)).view(len(texts), n, -1)  # (B, labels, classes)
        if multi_label or n == 1:
            contradiction = -1 if self.entailment == 0 else 0
            scores = logits[..., [contradiction, self.entailment]].softmax(-1)[..., 1]  # (B, labels)
        else:
            scores = logits[..., self.entailment].softmax(-1)  # (B, labels)
        results = []
        for text, row in zip(texts, scores.tolist(), strict=True):
            order = sorted(range(n), key=lambda j: row[j], reverse=True)
            results.append({"sequence": text, "labels": [labels[j] for j in order], "scores": [row[j] for j in order]})
        return results[0] if single else results

    def entailment_id(self) -> int:
        """The id of the label that starts with "entail" (case ignored), as transformers finds it."""
        id2label = self.id2label
        for i, name in sorted(id2label.items()):
            if str(name).lower().startswith("entail"):
                return int(i)
        raise ValueError(
            f"{self.task} needs a model trained for natural-language inference, with an 'entailment' label; "
            f"{self.loaded.path}'s labels are {sorted(id2label.values())}. Choose an NLI model (an MNLI / XNLI "
            "fine-tune) or name its labels in config.json's id2label"
        )

    @staticmethod
    def labels(candidate_labels) -> list[str]:
        """The candidate labels: a list, or one text of comma-separated labels (as transformers reads it)."""
        if isinstance(candidate_labels, str):
            candidate_labels = [label.strip() for label in candidate_labels.split(",") if label.strip()]
        if not candidate_labels or not all(isinstance(label, str) and label.strip() for label in candidate_labels):
            raise ValueError(
                f"candidate_labels={candidate_labels!r}: give the labels to choose from, as a list of texts or "
                'one comma-separated text (candidate_labels=["sport", "politics"])'
            )
        return list(candidate_labels)

    @staticmethod
    def hypotheses(labels: list[str], template: str) -> list[str]:
        if not isinstance(template, str) or template.format(labels[0]) == template:
            raise ValueError(
                f"hypothesis_template={template!r} has no {{}} where the label goes; e.g. 'This example is {{}}.'"
            )
        return [template.format(label) for label in labels]
