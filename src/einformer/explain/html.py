"""The offline attention explorer: one self-contained HTML file (no CDN, no network) with a head
view (lines between tokens weighted by attention, with layer and head selectors) and a model view
(a thumbnail of every layer x head). The page is ``explorer.html`` with the data written into it."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ..checkpoint import atomic_write
from .collect import AttentionRecord

PLACEHOLDER = "/*EINFORMER_DATA*/"


def write_explorer(record: AttentionRecord, path: str | Path) -> Path:
    """Write the explorer page for ``record`` to ``path`` (atomically)."""
    template = resources.files("einformer.explain").joinpath("explorer.html").read_text(encoding="utf-8")
    # "</" inside a <script> block would end it early: escape the slash (JSON allows "\/")
    data = json.dumps(record.to_json(), ensure_ascii=False).replace("</", "<\\/")
    path = Path(path)
    with atomic_write(path, "w") as f:
        f.write(template.replace(PLACEHOLDER, data))
    return path
