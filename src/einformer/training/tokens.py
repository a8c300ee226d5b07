"""Counting tokens in a batch: the weights of a token-mean loss, and the throughput figure."""

from __future__ import annotations


def loss_token_count(model, batch: dict) -> int:
    """Tokens the loss averages over: labels that are not -100 (after the model's own shift, if any)."""
    labels = batch.get("labels")
    if labels is None:
        return batch["input_ids"].numel()
    if getattr(model, "shifts_labels", False):
        labels = labels[:, 1:]
    return int((labels != -100).sum())


def count_tokens(batch: dict) -> int:
    """Real (non-padding) tokens in a batch: source tokens plus target tokens."""
    n = int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()
    if "labels" in batch and "attention_mask" in batch:
        n += int((batch["labels"] != -100).sum())
    return n
