"""Explain: attention maps (and, later, probes and ponder maps)."""

from .attention_maps import plot_attention, seq2seq_cross_attention

__all__ = ["plot_attention", "seq2seq_cross_attention"]
