"""Ponder maps: where a Universal Transformer with ACT thinks longer.

``ponder_map`` translates one input greedily and reads back, for every source position and every
output position, the number of steps N it took before halting and its remainder R. ``ponder_by_difficulty``
averages the source positions' N over many inputs grouped by a difficulty (for parity, the number of
non-zero entries; otherwise the input length), the plot Graves (2016) draws for his parity network.
Positions are labelled as the attention views label them (``tokens.token_labels``: a byte-level
piece's text, ``␣``/``↵`` for whitespace), the raw pieces kept beside the labels.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch

from .figures import pyplot, save_png
from .tokens import token_labels


@dataclasses.dataclass
class PonderMap:
    source_tokens: list[str]
    output_tokens: list[str]
    source_steps: list[float]  # N per source position
    source_remainders: list[float]  # R per source position
    output_steps: list[float]  # N per output position (the step that predicted it)
    output_remainders: list[float]
    source_pieces: list[str] = dataclasses.field(default_factory=list)  # the raw pieces behind the labels
    output_pieces: list[str] = dataclasses.field(default_factory=list)


def _require_act(model) -> None:
    if not getattr(model.config, "act", False):
        raise ValueError(
            "this run has no Adaptive Computation Time: ponder maps need a model trained with "
            "`einformer train --model universal --act`"
        )


@torch.no_grad()
def ponder_map(run, source: str) -> PonderMap:
    """Greedy output for ``source`` and the per-position ponder counts of the source and the output."""
    model = run.model.eval()
    _require_act(model)
    batch, ids, decoder_input = run.greedy_target(source)
    result = model(batch["input_ids"], batch["attention_mask"], decoder_input_ids=decoder_input)
    source_labels, source_pieces = token_labels(run.source_tokenizer, batch["input_ids"][0].tolist())  # with EOS
    output_labels, output_pieces = token_labels(run.target_tokenizer, ids)
    return PonderMap(
        source_labels,
        output_labels,
        result.ponder_steps[0].tolist(),
        result.remainders[0].tolist(),
        result.decoder_ponder_steps[0].tolist(),
        result.decoder_remainders[0].tolist(),
        source_pieces,
        output_pieces,
    )


@torch.no_grad()
def ponder_by_difficulty(
    run, sources: list[str], difficulty: Callable[[str], int], *, batch_size: int = 256
) -> dict[int, float]:
    """Mean ponder steps N of the real source positions, per difficulty value, over ``sources``."""
    model = run.model.eval()
    _require_act(model)
    totals: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for i in range(0, len(sources), batch_size):
        chunk = sources[i : i + batch_size]
        batch = run.encode_sources(chunk)
        steps = model.encode(batch["input_ids"], batch["attention_mask"]).steps  # (B, S)
        per_row = steps.sum(1) / batch["attention_mask"].sum(1)
        for source, value in zip(chunk, per_row.tolist(), strict=True):
            entry = totals[difficulty(source)]
            entry[0] += value
            entry[1] += 1
    return {k: s / n for k, (s, n) in sorted(totals.items())}


def plot_ponder_map(pm: PonderMap, path: str | Path, *, title: str = "") -> Path:
    """Two strips of N + R, one per source position and one per output position, as a PNG."""
    plt = pyplot()

    rows = [
        ("source", pm.source_tokens, [n + r for n, r in zip(pm.source_steps, pm.source_remainders, strict=True)]),
        ("output", pm.output_tokens, [n + r for n, r in zip(pm.output_steps, pm.output_remainders, strict=True)]),
    ]
    top = max(max(v) for _, _, v in rows)
    width = max(len(pm.source_tokens), len(pm.output_tokens))
    fig, axes = plt.subplots(2, 1, figsize=(max(5.0, 0.45 * width + 2), 3.2), squeeze=True)
    for ax, (name, tokens, values) in zip(axes, rows, strict=True):
        image = ax.imshow([values], cmap="magma", vmin=0.0, vmax=top, aspect="auto")
        ax.set_xticks(range(len(tokens)), tokens)
        ax.set_yticks([0], [name])
        for j, v in enumerate(values):
            ax.text(j, 0, f"{v:.1f}", ha="center", va="center", color="white" if v < 0.6 * top else "black")
    axes[0].set_title(title or "ponder time N + R per position")
    fig.colorbar(image, ax=axes, fraction=0.03)
    return save_png(fig, path)


def plot_ponder_by_difficulty(curve: dict[int, float], path: str | Path, *, xlabel: str) -> Path:
    """Mean ponder steps against difficulty, as a PNG."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(list(curve), list(curve.values()), "o-")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean ponder steps N per input position")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)
