"""Step-indexed batching: batch i is a pure function of (seed, i).

Because no iterator state exists, resuming a run needs only the step number: the resumed run sees
exactly the batches the uninterrupted one would have. Epoch e's order comes from torch's
``DistributedSampler`` with ``set_epoch(e)``; batch i is the (i mod n)-th slice of epoch i // n.

Under DDP, rank r of W reads every W-th example of that order (what ``DistributedSampler`` gives
it), ``batch_size / W`` at a time; the W local batches of step i together are exactly the global
batch a single process reads at step i. That is what makes a 2-process run's loss curve equal a
1-process run's, and a checkpoint portable between the two.
"""

from __future__ import annotations

import torch
from torch.utils.data import DistributedSampler

from .tokenizer import EOS_ID, PAD_ID


class Seq2SeqBatches:
    """(source ids, target ids) pairs -> {input_ids, attention_mask, labels} batches.

    The source gets an EOS appended; labels are the target plus EOS, padded with -100 (ignored by
    the loss). The model builds its decoder inputs by shifting labels right behind BOS.
    """

    def __init__(
        self,
        examples: list[tuple[list[int], list[int]]],
        batch_size: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not examples:
            raise ValueError("no training examples: the data is empty")
        batch_size = min(batch_size, len(examples))
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by the {world_size} processes")
        self.examples, self.local = examples, batch_size // world_size
        self.sampler = DistributedSampler(
            range(len(examples)), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self._epoch, self._order = -1, None

    def __len__(self) -> int:
        """Batches per epoch (the last partial one dropped)."""
        return max(1, self.sampler.num_samples // self.local)

    def order(self, epoch: int) -> list[int]:
        """This rank's example indices for ``epoch``."""
        if epoch != self._epoch:
            self.sampler.set_epoch(epoch)
            self._epoch, self._order = epoch, list(iter(self.sampler))
        return self._order

    def get(self, index: int) -> dict[str, torch.Tensor]:
        epoch, i = divmod(index, len(self))
        rows = self.order(epoch)[i * self.local : (i + 1) * self.local]
        return collate([self.examples[r] for r in rows])


def collate(
    pairs: list[tuple[list[int], list[int]]], *, eos_id: int = EOS_ID, pad_id: int = PAD_ID
) -> dict[str, torch.Tensor]:
    """EOS after both sides; right-pad sources with ``pad_id`` and labels with -100."""
    sources = [s + [eos_id] for s, _ in pairs]
    targets = [t + [eos_id] for _, t in pairs]
    b, s_len, t_len = len(pairs), max(map(len, sources)), max(map(len, targets))
    input_ids = torch.full((b, s_len), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((b, s_len), dtype=torch.long)
    labels = torch.full((b, t_len), -100, dtype=torch.long)
    for row, (s, t) in enumerate(zip(sources, targets, strict=True)):
        input_ids[row, : len(s)] = torch.tensor(s)
        attention_mask[row, : len(s)] = 1
        labels[row, : len(t)] = torch.tensor(t)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
