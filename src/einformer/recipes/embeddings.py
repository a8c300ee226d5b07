"""Sentence embeddings: mean of the token states over real tokens, L2-normalised
(the sentence-transformers convention used by all-MiniLM-L6-v2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D) states and (B, T) mask -> (B, D) mean over the tokens that are not padding."""
    mask = attention_mask[..., None].to(last_hidden_state.dtype)
    return (last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


@torch.no_grad()
def embed(
    model, tokenizer, texts: list[str], *, normalize: bool = True, batch_size: int = 32, max_length: int | None = 256
) -> torch.Tensor:
    """(N, D) sentence embeddings of ``texts`` with a BertModel and its tokenizer."""
    model.eval()
    out = []
    for i in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[i : i + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        hidden = model(**batch).last_hidden_state
        pooled = mean_pool(hidden, batch["attention_mask"])
        out.append(F.normalize(pooled, dim=-1) if normalize else pooled)
    return torch.cat(out)
