"""Attention maps: collect weights through the reference attention path and draw them.

The weights come from the model's ``output_attentions=True`` pass, which routes attention through
the einsum reference; without it the fast path runs untouched.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import atomic_write


@torch.no_grad()
def seq2seq_cross_attention(run, source: str, *, max_new_tokens: int | None = None):
    """Translate ``source`` greedily and return its cross-attention.

    Returns:
        (weights, source tokens, output tokens): weights is (L, H, T, S), one map per decoder layer
        and head, row t = the step that predicted output token t.
    """
    model = run.model.eval()
    batch = run.encode_sources([source])
    max_new = max_new_tokens or run.info.get("max_target_tokens", 64) + 1
    out = model.generate(batch["input_ids"], batch["attention_mask"], max_new_tokens=max_new)[0]
    ids = out[1:].tolist()
    if run.target_tokenizer.eos_id in ids:
        ids = ids[: ids.index(run.target_tokenizer.eos_id) + 1]
    decoder_input = torch.tensor([[model.config.bos_token_id] + ids[:-1]])
    result = model(batch["input_ids"], batch["attention_mask"], decoder_input_ids=decoder_input, output_attentions=True)
    weights = torch.stack([w[0] for w in result.cross_attentions])  # (L, H, T, S)
    src_tokens = run.source_tokenizer.backend.encode(source, add_special_tokens=False).tokens + ["[EOS]"]
    out_tokens = [run.target_tokenizer.backend.id_to_token(i) for i in ids]
    return weights, src_tokens, out_tokens


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, s = weights.shape
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * s + 2), max(3.0, 0.4 * t + 1.5)))
    image = ax.imshow(weights.float().numpy(), cmap="viridis", vmin=0.0, aspect="auto")
    ax.set_xticks(range(s), x_labels, rotation=90 if max(map(len, x_labels), default=0) > 3 else 0)
    ax.set_yticks(range(t), y_labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return path


def plot_attention_grid(
    heads: torch.Tensor, rows: list[str], cols: list[str], path: str | Path, *, title: str = ""
) -> Path:
    """Draw every head of one layer, (H, T, S), as a grid of heatmaps with tokens on both axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, t, s = heads.shape
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
    path = Path(path)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return path
