"""Rotary position embeddings, drawn from einformer's own ``RotaryEmbedding`` (docs/rope.md's figure).

Three panels, every number computed by ``einformer.nn.rotary``:

1. the score q(m) . k(n) of one random query and key at every pair of positions: constant along each
   diagonal, because it depends on the offset m - n only;
2. the frequency w_i of each pair of dimensions under each ``rope_type``: where the scaling variants
   change the default (and partial rotation, which leaves pairs unturned);
3. the score of a query and a key that are equal (all ones), against their offset, averaged over 16
   offsets: how far each variant stretches the decay the model learnt within its trained length L.

    python -c "from einformer.explain.rope import plot_rope; plot_rope('docs/images/rope_variants.png')"
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..nn.rotary import RotaryEmbedding
from .figures import pyplot, save_png

HEAD_DIM, THETA, TRAINED = 64, 10000.0, 256  # Dh, theta and the original context L of the figure
VARIANTS = {  # label -> RotaryEmbedding keyword arguments (transformers' rope_type and its fields)
    "default": dict(rope_type="default"),
    "linear, factor 4": dict(rope_type="linear", factor=4.0),
    "dynamic (NTK), factor 4, at 4L": dict(rope_type="dynamic", factor=4.0),
    "llama3, factor 4": dict(rope_type="llama3", factor=4.0, low_freq_factor=1.0, high_freq_factor=4.0),
    "yarn, factor 4": dict(rope_type="yarn", factor=4.0),
    "partial, 1/2 of each head": dict(rope_type="default", partial_rotary_factor=0.5),
}


def rotary(**kwargs) -> RotaryEmbedding:
    """The figure's rotary module, float64, trained length ``TRAINED``."""
    return RotaryEmbedding(HEAD_DIM, theta=THETA, original_max_position_embeddings=TRAINED, **kwargs).double()


def scores(rope: RotaryEmbedding, q, k, positions) -> torch.Tensor:
    """(P, P) q rotated by position m against k rotated by n, for m, n in ``positions``."""
    pos = torch.as_tensor(positions)[None]  # (1, P)
    qs = q.expand(1, 1, pos.shape[1], HEAD_DIM)
    ks = k.expand(1, 1, pos.shape[1], HEAD_DIM)
    rq, rk = rope(qs, ks, pos)  # (1, 1, P, Dh) each
    return (rq[0, 0] @ rk[0, 0].T) / HEAD_DIM  # (P, P)


def frequencies(label: str) -> torch.Tensor:
    """w_i of each of the Dh / 2 pairs under ``VARIANTS[label]`` (0: a pair left unturned); "dynamic" at 4L."""
    rope = rotary(**VARIANTS[label])
    w = rope.frequencies(torch.tensor([[4 * TRAINED - 1]])).double()  # "dynamic": the frequencies of length 4L
    return torch.cat([w, w.new_zeros(HEAD_DIM // 2 - len(w))])


def offset_curve(label: str, offsets: torch.Tensor) -> torch.Tensor:
    """The score of equal q and k (all ones) at offsets 0..max: q at position ``offset``, k at 0."""
    rope = rotary(**VARIANTS[label])
    ones = torch.ones(1, 1, 1, HEAD_DIM, dtype=torch.float64)
    return scores(rope, ones, ones, offsets)[:, 0]  # row m, column n = 0


def plot_rope(path: str | Path) -> Path:
    """Draw the three panels (module docstring) into ``path`` (PNG)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    torch.manual_seed(0)
    q, k = torch.randn(HEAD_DIM, dtype=torch.float64), torch.randn(HEAD_DIM, dtype=torch.float64)
    grid = scores(rotary(), q, k, range(32))
    image = axes[0].imshow(grid.numpy(), cmap="RdBu_r")
    axes[0].set_title("q(m) . k(n): constant along diagonals (m - n)")
    axes[0].set_xlabel("key position n")
    axes[0].set_ylabel("query position m")
    fig.colorbar(image, ax=axes[0], fraction=0.046)

    pairs = torch.arange(HEAD_DIM // 2)
    for label in VARIANTS:
        w = frequencies(label)
        axes[1].plot(pairs[w > 0].numpy(), w[w > 0].numpy(), marker=".", label=label)
    axes[1].axhline(2 * torch.pi / TRAINED, color="grey", linestyle=":", label="one turn over L")
    axes[1].set_yscale("log")
    axes[1].set_title(f"frequency w_i per pair (Dh = {HEAD_DIM}, theta = {THETA:g}, L = {TRAINED})")
    axes[1].set_xlabel("pair i (dimensions i, i + Dh/2)")
    axes[1].set_ylabel("radians per position")
    axes[1].legend(fontsize=7)

    offsets, window = torch.arange(0, 4 * TRAINED), 16
    for label in VARIANTS:  # a running mean over 16 offsets: the trend under the fast pairs' wiggle
        curve = offset_curve(label, offsets).unfold(0, window, 1).mean(-1)
        axes[2].plot(offsets[: len(curve)].numpy(), curve.numpy(), linewidth=1.2, label=label)
    axes[2].axvline(TRAINED, color="grey", linestyle=":", label="L")
    axes[2].set_title(f"q = k = 1: score against the offset m - n (mean of {window})")
    axes[2].set_xlabel("offset m - n")
    axes[2].set_ylabel("q(m) . k(n) / Dh")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return save_png(fig, path, dpi=100)
