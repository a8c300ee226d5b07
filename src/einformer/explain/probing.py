"""Per-layer probes: what does each layer of a BERT encode?

For every probing task (``probe_grammar``), the frozen model reads the sentences; each layer's
states, mean-pooled over the real tokens, train a logistic-regression probe on the training split
(one vocabulary half) and are scored on the test split (the other half). Controls sit beside every
row: layer 0 (the embeddings: a bag of words plus positions once pooled), the same architecture
with untrained weights, and the majority class. A task that a control solves is solved by a surface
cue, not by what the layers compute.

Each task's center of gravity is the accuracy-gain-weighted mean layer (Tenney et al. 2019's
"expected layer"): sum_l l * Delta_l / sum_l Delta_l with Delta_l = max(0, acc_l - acc_(l-1)).
Jawahar et al. (2019) report surface information low, syntax in the middle, semantics high.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F

from .figures import pyplot, save_png
from .probe_grammar import TASKS, make_task


def train_probe(x: torch.Tensor, y: torch.Tensor, n_classes: int, *, l2: float = 1e-3, steps: int = 100):
    """Multinomial logistic regression on standardised features, full-batch L-BFGS (deterministic).

    Returns predict(features) -> labels.
    """
    x = x.double()
    mean, std = x.mean(0), x.std(0).clamp(min=1e-6)
    z = (x - mean) / std
    w = torch.zeros(z.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(z @ w + b, y) + l2 * (w**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    w, b = w.detach(), b.detach()
    return lambda features: (((features.double() - mean) / std) @ w + b).argmax(-1)


@torch.no_grad()
def layer_features(model, tokenizer, sentences: list[str], *, batch_size: int = 64) -> torch.Tensor:
    """(L + 1, N, D): every layer's mean-pooled states (index 0 = the embeddings)."""
    model.eval()
    out = []
    for i in range(0, len(sentences), batch_size):
        batch = tokenizer(sentences[i : i + batch_size], padding=True, return_tensors="pt")
        hidden = model(**batch, output_hidden_states=True).hidden_states  # L + 1 of (B, T, D)
        mask = batch["attention_mask"][None, :, :, None].float()  # (1, B, T, 1)
        stacked = torch.stack(hidden)  # (L + 1, B, T, D)
        out.append((stacked * mask).sum(2) / mask.sum(2))
    return torch.cat(out, dim=1)


@dataclasses.dataclass
class ProbeTable:
    tasks: list[str]
    families: list[str]
    accuracy: dict[str, list[float]]  # task -> accuracy per layer 0..L (trained model)
    untrained: dict[str, list[float]]  # task -> accuracy per layer of the untrained model
    majority: dict[str, float]

    def center_of_gravity(self, task: str) -> float:
        acc = self.accuracy[task]
        gains = [max(0.0, acc[i] - acc[i - 1]) for i in range(1, len(acc))]
        total = sum(gains)
        # no layer adds anything (the embeddings already hold it all): undefined, shown as "-"
        return sum((i + 1) * g for i, g in enumerate(gains)) / total if total > 0 else float("nan")

    def to_text(self) -> str:
        n = len(next(iter(self.accuracy.values())))
        head = ["task", "family", "majority", "untrained (best)"] + [f"L{i}" for i in range(n)] + ["center"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for task, family in zip(self.tasks, self.families, strict=True):
            cells = [task, family, f"{self.majority[task]:.2f}", f"{max(self.untrained[task]):.2f}"]
            center = self.center_of_gravity(task)
            cells += [f"{a:.2f}" for a in self.accuracy[task]] + ["-" if center != center else f"{center:.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["center_of_gravity"] = {t: self.center_of_gravity(t) for t in self.tasks}
        return data


def run_probes(
    model,
    untrained,
    tokenizer,
    *,
    tasks: list[str] | None = None,
    n_train: int = 1000,
    n_test: int = 500,
    seed: int = 0,
    progress=None,
) -> ProbeTable:
    """Probe every layer of ``model`` (and of ``untrained``, the same architecture at initialisation)."""
    tasks = tasks or list(TASKS)
    accuracy, untrained_acc, majority = {}, {}, {}
    for task in tasks:
        _, _, n_classes = TASKS[task]
        train, test = make_task(task, n_train, "train", seed), make_task(task, n_test, "test", seed)
        y_train = torch.tensor([label for _, label in train])
        y_test = torch.tensor([label for _, label in test])
        counts = torch.bincount(y_train, minlength=n_classes)
        majority[task] = float((y_test == counts.argmax()).float().mean())
        for target, m in ((accuracy, model), (untrained_acc, untrained)):
            f_train = layer_features(m, tokenizer, [s for s, _ in train])
            f_test = layer_features(m, tokenizer, [s for s, _ in test])
            target[task] = [
                float((train_probe(f_train[layer], y_train, n_classes)(f_test[layer]) == y_test).float().mean())
                for layer in range(f_train.shape[0])
            ]
        if progress:
            progress(task, accuracy[task])
    return ProbeTable(tasks, [TASKS[t][0] for t in tasks], accuracy, untrained_acc, majority)


def plot_probes(table: ProbeTable, path: str | Path) -> Path:
    """Accuracy per layer, one line per task (solid: trained; the legend names the family)."""
    plt = pyplot()

    styles = {"surface": "-", "syntactic": "--", "semantic": ":"}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for task, family in zip(table.tasks, table.families, strict=True):
        acc = table.accuracy[task]
        ax.plot(range(len(acc)), acc, styles[family], marker="o", label=f"{task} ({family})")
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel("probe accuracy on held-out vocabulary")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path, dpi=110)


def untrained_control(model, seed: int = 0):
    """The same architecture at initialisation (seeded): what the layers encode before any training."""
    import torch

    torch.manual_seed(seed)
    return type(model)(model.config)
