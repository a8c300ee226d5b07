"""Recipes: data, model and trainer wired together for one kind of job (what the CLI calls)."""

from __future__ import annotations

import json
from pathlib import Path

RUN_INFO = "run.json"  # what a run directory says of its job: kind, data, tokenizers, lengths


def run_kind(directory: str | Path) -> str | None:
    """The kind of job a run directory holds ("sequence-to-sequence", "language-model", ...), or None
    when it has no run.json (a bare model directory)."""
    path = Path(directory) / RUN_INFO
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("kind", "sequence-to-sequence")
