"""Step-indexed batching: batch i is a pure function of (seed, i).

Because no iterator state exists, resuming a run needs only the step number: the resumed run sees
exactly the batches the uninterrupted one would have. Epoch e shuffles the examples with a
generator seeded by (seed, e); batch i is the (i mod n)-th slice of epoch i // n.
"""

from __future__ import annotations

import torch

from .tokenizer import EOS_ID, PAD_ID


class Seq2SeqBatches:
    """(source ids, target ids) pairs -> {input_ids, attention_mask, labels} batches.

    The source gets an EOS appended; labels are the target plus EOS, padded with -100 (ignored by
    the loss). The model builds its decoder inputs by shifting labels right behind BOS.
    """

    def __init__(self, examples: list[tuple[list[int], list[int]]], batch_size: int, *, seed: int = 0) -> None:
        if not examples:
            raise ValueError("no training examples: the data is empty")
        self.examples, self.batch_size, self.seed = examples, min(batch_size, len(examples)), seed
        self._epoch, self._order = -1, None

    def __len__(self) -> int:
        """Batches per epoch (the last partial one dropped)."""
        return len(self.examples) // self.batch_size

    def order(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._order = epoch, torch.randperm(len(self.examples), generator=g)
        return self._order

    def get(self, index: int) -> dict[str, torch.Tensor]:
        epoch, i = divmod(index, len(self))
        rows = self.order(epoch)[i * self.batch_size : (i + 1) * self.batch_size].tolist()
        return collate([self.examples[r] for r in rows])


def collate(pairs: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
    """Right-pad sources with PAD and labels with -100."""
    sources = [s + [EOS_ID] for s, _ in pairs]
    targets = [t + [EOS_ID] for _, t in pairs]
    b, s_len, t_len = len(pairs), max(map(len, sources)), max(map(len, targets))
    input_ids = torch.full((b, s_len), PAD_ID, dtype=torch.long)
    attention_mask = torch.zeros((b, s_len), dtype=torch.long)
    labels = torch.full((b, t_len), -100, dtype=torch.long)
    for row, (s, t) in enumerate(zip(sources, targets, strict=True)):
        input_ids[row, : len(s)] = torch.tensor(s)
        attention_mask[row, : len(s)] = 1
        labels[row, : len(t)] = torch.tensor(t)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
