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


def drawable(labels: list[str]) -> list[str]:
    """Labels as the figure's font can draw them: a character it lacks (CJK in matplotlib's default
    DejaVu Sans) is written ``U+6625`` instead of an empty box. Configure a font that has the
    glyphs (``plt.rcParams["font.family"]``) and the characters themselves are drawn."""
    from matplotlib import font_manager, ft2font

    font = ft2font.FT2Font(font_manager.findfont(font_manager.FontProperties()))
    return ["".join(c if font.get_char_index(ord(c)) else f"U+{ord(c):04X}" for c in label) for label in labels]


def save_png(fig, path: str | Path, *, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` atomically (a temporary file, then a rename) and close it."""
    path = Path(path)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=dpi)
    pyplot().close(fig)
    return path
