"""Adaptive input embeddings and the adaptive softmax (Grave et al. 2017; Baevski & Auli 2019), as
Transformer-XL uses them for large vocabularies.

The vocabulary, sorted by frequency, is cut at ``cutoffs`` into clusters: the head (the most
frequent words) and tail clusters. Cluster i embeds its words in d_embed // div_val**i dimensions
and projects them to the model width, so rare words cost fewer parameters. The softmax mirrors it:
the head predicts its own words plus one "go to cluster i" entry per tail cluster, and a tail word's
log-probability is log p(cluster i | h) + log p(word | cluster i, h). With no cutoffs both reduce to
a plain embedding and a plain softmax. A cluster as wide as the model needs no projection and gets
none, unless ``always_project`` (the reference code learns one for every cluster when div_val > 1).
Built from ModuleList, Embedding and Linear only; tying makes the output layers and projections
share the embedding's tensors (one storage, not a copy).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def cluster_bounds(vocab_size: int, cutoffs: tuple[int, ...]) -> list[tuple[int, int]]:
    """[(0, c0), (c0, c1), ..., (c_last, V)]; cutoffs must increase strictly inside (0, V)."""
    edges = [0, *cutoffs, vocab_size]
    if any(a >= b for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"cutoffs {list(cutoffs)} must increase strictly and lie inside (0, {vocab_size})")
    return list(zip(edges, edges[1:], strict=False))


def cluster_widths(d_embed: int, n_clusters: int, div_val: int) -> list[int]:
    return [d_embed // div_val**i for i in range(n_clusters)]


class AdaptiveEmbedding(nn.Module):
    """(B, T) ids -> (B, T, d_proj) vectors, multiplied by sqrt(d_proj) as in Transformer-XL."""

    def __init__(
        self, vocab_size: int, d_embed: int, d_proj: int, *, cutoffs=(), div_val: int = 1, always_project: bool = False
    ) -> None:
        super().__init__()
        self.bounds = cluster_bounds(vocab_size, tuple(cutoffs))
        widths = cluster_widths(d_embed, len(self.bounds), div_val)
        if min(widths) < 1:
            raise ValueError(f"div_val={div_val} leaves a cluster with no dimensions; lower it or raise d_embed")
        self.embeddings = nn.ModuleList(
            nn.Embedding(hi - lo, w) for (lo, hi), w in zip(self.bounds, widths, strict=True)
        )
        self.projections = nn.ModuleList(
            nn.Identity() if w == d_proj and not always_project else nn.Linear(w, d_proj, bias=False) for w in widths
        )
        self.vocab_size, self.d_proj, self.scale = vocab_size, d_proj, math.sqrt(d_proj)

    def forward(self, input_ids: Tensor) -> Tensor:
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.vocab_size):
            raise ValueError(
                f"input_ids must lie in [0, {self.vocab_size}); got values from "
                f"{int(input_ids.min())} to {int(input_ids.max())}"
            )
        if len(self.bounds) == 1:
            return self.projections[0](self.embeddings[0](input_ids)) * self.scale
        out = input_ids.new_zeros(*input_ids.shape, self.d_proj, dtype=self.embeddings[0].weight.dtype)
        for (lo, hi), emb, proj in zip(self.bounds, self.embeddings, self.projections, strict=True):
            where = (input_ids >= lo) & (input_ids < hi)
            if where.any():
                out[where] = proj(emb(input_ids[where] - lo)).to(out.dtype)
        return out * self.scale


class TransposedLinear(nn.Module):
    """x -> x W^T where W is ``linear``'s weight transposed: an output projection tied to an input one."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.linear.weight.t())


class AdaptiveLogSoftmax(nn.Module):
    """(N, d_proj) states -> log-probabilities over the vocabulary, or the NLL of given targets.

    Args:
        vocab_size, d_embed, d_proj, cutoffs, div_val: as ``AdaptiveEmbedding``.
        tie_embedding: share the output matrices with this embedding's tables.
        tie_projections: share the projections too (used transposed): one flag for all clusters, or one
            per cluster (the reference code's list); with ``embedding`` given, a cluster's projection is
            tied to it whether or not the output matrices are.
        embedding: the input embedding whose projections are tied (default ``tie_embedding``).
        always_project: a projection for every cluster, as ``AdaptiveEmbedding``'s.
    """

    def __init__(
        self,
        vocab_size: int,
        d_embed: int,
        d_proj: int,
        *,
        cutoffs=(),
        div_val: int = 1,
        tie_embedding: AdaptiveEmbedding | None = None,
        tie_projections: bool | tuple[bool, ...] = True,
        embedding: AdaptiveEmbedding | None = None,
        always_project: bool = False,
    ) -> None:
        super().__init__()
        self.bounds = cluster_bounds(vocab_size, tuple(cutoffs))
        widths = cluster_widths(d_embed, len(self.bounds), div_val)
        self.outputs = nn.ModuleList(nn.Linear(w, hi - lo) for (lo, hi), w in zip(self.bounds, widths, strict=True))
        ties = [tie_projections] * len(widths) if isinstance(tie_projections, bool) else list(tie_projections)
        if len(ties) != len(widths):
            raise ValueError(f"tie_projections has {len(ties)} flags for {len(widths)} clusters; give one per cluster")
        source = embedding or tie_embedding
        projections = []
        for i, w in enumerate(widths):
            if source is not None and ties[i] and isinstance(source.projections[i], nn.Linear):
                projections.append(TransposedLinear(source.projections[i]))
            elif w == d_proj and not always_project:
                projections.append(nn.Identity())
            else:
                projections.append(nn.Linear(d_proj, w, bias=False))
        self.projections = nn.ModuleList(projections)
        self.clusters = nn.Linear(widths[0], len(self.bounds) - 1) if len(self.bounds) > 1 else None
        if tie_embedding is not None:
            for out, emb in zip(self.outputs, tie_embedding.embeddings, strict=True):
                out.weight = emb.weight
        self.vocab_size = vocab_size

    def _head(self, h: Tensor) -> Tensor:
        """(N, d_proj) -> (N, c0 + clusters - 1) log-probabilities of head words and tail clusters."""
        x = self.projections[0](h)
        logits = self.outputs[0](x)
        if self.clusters is not None:
            logits = torch.cat([logits, self.clusters(x)], dim=-1)
        return _log_softmax(logits)

    def _tail(self, i: int, h: Tensor) -> Tensor:
        return _log_softmax(self.outputs[i](self.projections[i](h)))

    def log_probs(self, h: Tensor) -> Tensor:
        """(..., d_proj) -> (..., V) log-probabilities (they normalise over the whole vocabulary)."""
        shape = h.shape[:-1]
        h = h.reshape(-1, h.shape[-1])
        head = self._head(h)
        c0 = self.bounds[0][1]
        parts = [head[:, :c0]]
        for i in range(1, len(self.bounds)):
            parts.append(head[:, c0 + i - 1 : c0 + i] + self._tail(i, h))
        return torch.cat(parts, dim=-1).view(*shape, self.vocab_size)

    def nll(self, h: Tensor, target: Tensor) -> Tensor:
        """(N, d_proj) states and (N,) targets -> (N,) negative log-likelihoods (0 where target is -100).

        Computes each tail cluster only for the rows whose target falls in it.
        """
        head = self._head(h)
        c0 = self.bounds[0][1]
        out = head.new_zeros(target.shape)
        for i, (lo, hi) in enumerate(self.bounds):
            rows = ((target >= lo) & (target < hi)).nonzero(as_tuple=True)[0]
            if rows.numel() == 0:
                continue
            word = target[rows] - lo
            if i == 0:
                out[rows] = -head[rows, word]
            else:
                tail = self._tail(i, h[rows])
                out[rows] = -(head[rows, c0 + i - 1] + tail.gather(1, word[:, None]).squeeze(1))
        return out


def _log_softmax(logits: Tensor) -> Tensor:
    """log_softmax over the last axis, in float32 at least (half precision loses the tail)."""
    return torch.log_softmax(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits, dim=-1)
