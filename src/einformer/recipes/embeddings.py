"""Sentence embeddings: mean of the token states over real tokens, L2-normalised
(the sentence-transformers convention used by all-MiniLM-L6-v2), with the pooling the
sentence-embeddings pipeline uses (``pipelines/features.pool``)."""

from __future__ import annotations

import torch

from ..pipelines.features import Pooling, pool


@torch.no_grad()
def embed(
    model, tokenizer, texts: list[str], *, normalize: bool = True, batch_size: int = 32, max_length: int | None = 256
) -> torch.Tensor:
    """(N, D) sentence embeddings of ``texts`` with a BertModel and its tokenizer."""
    model.eval()
    pooling = Pooling(("mean_tokens",), normalize=normalize)
    out = []
    for i in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[i : i + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        out.append(pool(model(**batch).last_hidden_state, batch["attention_mask"], pooling))
    return torch.cat(out)
