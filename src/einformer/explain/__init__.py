"""Explain: attention maps and the offline explorer, ponder maps, per-layer probes."""

from .attention_maps import plot_attention, plot_attention_grid, seq2seq_cross_attention
from .collect import AttentionRecord, collect_attention
from .html import write_explorer
from .ponder import plot_ponder_by_difficulty, plot_ponder_map, ponder_by_difficulty, ponder_map
from .probing import ProbeTable, plot_probes, run_probes, train_probe

__all__ = [
    "AttentionRecord",
    "ProbeTable",
    "collect_attention",
    "plot_attention",
    "plot_attention_grid",
    "plot_ponder_by_difficulty",
    "plot_ponder_map",
    "plot_probes",
    "ponder_by_difficulty",
    "ponder_map",
    "run_probes",
    "seq2seq_cross_attention",
    "train_probe",
    "write_explorer",
]
