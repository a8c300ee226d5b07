"""Generation: decoding loops shared by every einformer model that generates."""

from .search import beam_search, greedy_search

__all__ = ["beam_search", "greedy_search"]
