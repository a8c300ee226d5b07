"""Attention maps: collect weights through the reference attention path and draw them.

The weights come from the model's ``output_attentions=True`` pass, which routes attention through
the einsum reference; without it the fast path runs untouched.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .figures import drawable, pyplot, save_png


def seq2seq_cross_attention(run, source: str, *, max_new_tokens: int | None = None):
    """Translate ``source`` greedily and return its cross-attention.

    Returns:
        (weights, source tokens, output tokens): weights is (L, H, T, S), one map per decoder layer
        and head, row t = the step that predicted output token t.
    """
    from .collect import seq2seq_attention

    record = seq2seq_attention("run", run.model.eval(), run, source, max_new_tokens)
    return torch.stack(record.maps["cross"]), record.cols["cross"], record.rows["cross"]


def plot_attention(
    weights: torch.Tensor,
    x_labels: list[str],
    y_labels: list[str],
    path: str | Path,
    *,
    title: str = "",
    xlabel: str = "source",
    ylabel: str = "output",
) -> Path:
    """Draw one (T, S) attention map as a heatmap PNG with tokens on both axes."""
    plt = pyplot()

    t, s = weights.shape
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * s + 2), max(3.0, 0.4 * t + 1.5)))
    image = ax.imshow(weights.float().numpy(), cmap="viridis", vmin=0.0, aspect="auto")
    x_labels, y_labels = drawable(x_labels), drawable(y_labels)
    ax.set_xticks(range(s), x_labels, rotation=90 if max(map(len, x_labels), default=0) > 3 else 0)
    ax.set_yticks(range(t), y_labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    return save_png(fig, path, dpi=110)


def plot_attention_grid(
    heads: torch.Tensor, rows: list[str], cols: list[str], path: str | Path, *, title: str = ""
) -> Path:
    """Draw every head of one layer, (H, T, S), as a grid of heatmaps with tokens on both axes."""
    plt = pyplot()

    h, t, s = heads.shape
    rows, cols = drawable(rows), drawable(cols)
    ncols = min(h, 4)
    nrows = -(-h // ncols)
    cell = max(2.2, 0.22 * max(t, s) + 1.0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols, cell * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= h:
            ax.axis("off")
            continue
        ax.imshow(heads[i].float().numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_title(f"head {i}", fontsize=9)
        ax.set_xticks(range(s), cols, rotation=90, fontsize=7)
        ax.set_yticks(range(t), rows, fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path, dpi=100)
