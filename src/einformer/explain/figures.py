"""Matplotlib without a screen, and PNGs written atomically: what every explain plot shares."""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import atomic_write


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: str | Path, *, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` atomically (a temporary file, then a rename) and close it."""
    path = Path(path)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=dpi)
    pyplot().close(fig)
    return path
