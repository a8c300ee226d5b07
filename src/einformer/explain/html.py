"""The offline attention explorer: one self-contained HTML file (no CDN, no network) with a head
view (lines between tokens weighted by attention, with layer and head selectors), a model view
(a thumbnail of every layer x head) and, when the record has them, the step view (one query token's
walk through q.k, the softmax, the values and the output projection: ``step_view.js``). The page is
``explorer.html`` with the step view's script and the data written into it."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ..checkpoint import atomic_write
from .collect import AttentionRecord

PLACEHOLDER = "/*EINFORMER_DATA*/"
STEP_VIEW = "/*EINFORMER_STEP_VIEW*/"


def write_explorer(
    record: AttentionRecord,
    path: str | Path,
    *,
    kind: str | None = None,
    layer: int = 0,
    head: int = 0,
    query_token: int = 0,
) -> Path:
    """Write the explorer page for ``record`` to ``path`` (atomically), opened on ``kind`` (default
    the first), ``layer``, ``head`` and, in the step view, query token ``query_token``."""
    kinds = list(record.maps)
    kind = kinds[0] if kind is None else kind
    if kind not in kinds:
        raise ValueError(f"kind {kind!r}: the record has {kinds}")
    n_layers, n_heads, n_queries = len(record.maps[kind]), *record.maps[kind][0].shape[:2]
    for name, value, count in (
        ("layer", layer, n_layers),
        ("head", head, n_heads),
        ("query token", query_token, n_queries),
    ):
        if not 0 <= value < count:
            raise ValueError(f"{name} {value}: {kind} attention has {name}s 0 to {count - 1}")
    package = resources.files("einformer.explain")
    template = package.joinpath("explorer.html").read_text(encoding="utf-8")
    script = package.joinpath("step_view.js").read_text(encoding="utf-8")
    data = dict(record.to_json(), start=dict(kind=kinds.index(kind), layer=layer, head=head, query=query_token))
    # "</" inside a <script> block would end it early: escape the slash (JSON allows "\/")
    text = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    path = Path(path)
    with atomic_write(path, "w") as f:
        f.write(template.replace(STEP_VIEW, script).replace(PLACEHOLDER, text))
    return path
