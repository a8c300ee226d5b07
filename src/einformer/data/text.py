"""Language-model data: a text file as one long token stream, cut into blocks.

Batches are step-indexed like every einformer batch source (batch i is a pure function of
(seed, i)), so a resumed run sees the same data:

* ``random``: each row starts at a random offset (nanoGPT's sampling);
* ``contiguous``: the stream is cut into consecutive non-overlapping blocks, shuffled per epoch,
  so an epoch covers every token once.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import chunks
from .pairs import DataError, read_data_file


def read_text(path: str | Path) -> str:
    """A UTF-8 text file; errors name the file and the first bad line."""
    path, raw = Path(path), read_data_file(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 ({e.reason}); convert the file to UTF-8") from None


class TokenBlocks:
    """The non-overlapping (block_size,) blocks of a text's ids, encoded piece by piece
    (``chunks.spans``) as they are read: evaluation holds one piece and one batch, never the whole
    text's ids. ``n_tokens`` counts every id read so far; ``finish`` reads (counts) the rest."""

    def __init__(self, backend, text: str, block_size: int, *, chunk: int = chunks.CHUNK) -> None:
        self.backend, self.text, self.block_size, self.n_tokens = backend, text, block_size, 0
        self._spans = chunks.spans(backend, text, chunk)

    def __iter__(self):
        buffer = torch.zeros(0, dtype=torch.long)
        for start, end in self._spans:
            ids = torch.tensor(self.backend.encode(self.text[start:end], add_special_tokens=False).ids)
            self.n_tokens += len(ids)
            buffer = torch.cat([buffer, ids])
            whole = len(buffer) // self.block_size * self.block_size
            yield from buffer[:whole].view(-1, self.block_size)  # (block_size,) each
            buffer = buffer[whole:].clone()

    def finish(self) -> int:
        """Count the ids of the text not read yet; the total."""
        for start, end in self._spans:
            self.n_tokens += len(self.backend.encode(self.text[start:end], add_special_tokens=False).ids)
        return self.n_tokens


class LMBatches:
    """Blocks of ``block_size`` tokens as {input_ids, labels}; labels = input_ids, the model shifts them
    (Hugging Face's convention), so a block gives block_size - 1 predictions."""

    def __init__(
        self,
        ids: torch.Tensor,
        block_size: int,
        batch_size: int,
        *,
        sampling: str = "random",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if sampling not in ("random", "contiguous"):
            raise ValueError(f"sampling must be 'random' or 'contiguous', got {sampling!r}")
        if len(ids) < block_size + 1:
            raise ValueError(
                f"the text has {len(ids)} tokens, fewer than one block of {block_size} and one more; "
                "use a longer text or a smaller --block-size"
            )
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by the {world_size} processes")
        self.ids, self.block, self.batch_size, self.sampling, self.seed = ids, block_size, batch_size, sampling, seed
        self.rank, self.world_size = rank, world_size
        self.n_blocks = len(ids) // block_size
        self._epoch, self._order = -1, None

    def __len__(self) -> int:
        return max(1, self.n_blocks // self.batch_size)

    def get(self, index: int) -> dict[str, torch.Tensor]:
        if self.sampling == "random":
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
            starts = torch.randint(0, len(self.ids) - self.block + 1, (self.batch_size,), generator=g)
        else:
            epoch, i = divmod(index, len(self))
            if epoch != self._epoch:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                self._epoch, self._order = epoch, torch.randperm(self.n_blocks, generator=g)
            starts = self._order[i * self.batch_size : (i + 1) * self.batch_size] * self.block
        local = self.batch_size // self.world_size  # this rank's share of the global batch
        starts = starts[self.rank * local : (self.rank + 1) * local]
        rows = torch.stack([self.ids[s : s + self.block] for s in starts.tolist()]).long()  # (B / W, block)
        return {"input_ids": rows, "labels": rows}


class StreamBatches:
    """Transformer-XL's stateful batches: the token stream cut into ``batch_size`` contiguous streams
    (rows), read segment after segment, so row r of batch i + 1 continues row r of batch i and the
    model's memory carries over. Labels are the next tokens, aligned with the inputs.

    Batch i is segment i mod n_segments. The memory is carried through the trainer's protocol:
    ``carry_in`` feeds the previous step's memory, empty where the streams start over
    (``starts_epoch``), and ``carry_out`` takes the new one from the model's output. Under DDP
    rank k reads rows [k B/W, (k + 1) B/W) of the same global batch, so W processes see exactly
    what one process sees.
    """

    def __init__(
        self, ids: torch.Tensor, batch_size: int, segment_length: int, *, rank: int = 0, world_size: int = 1
    ) -> None:
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by the {world_size} processes")
        length = len(ids) // batch_size
        if length < 2:
            raise ValueError(
                f"the text has {len(ids)} tokens: too few for {batch_size} streams; use a longer text "
                "or a smaller --batch-size"
            )
        local = batch_size // world_size
        streams = ids[: length * batch_size].view(batch_size, length)  # (B, L): row r = r-th stretch
        self.streams = streams[rank * local : (rank + 1) * local]
        self.segment = segment_length
        self.n_segments = -(-(length - 1) // segment_length)  # the last segment may be shorter

    def __len__(self) -> int:
        return self.n_segments

    def starts_epoch(self, index: int) -> bool:
        return index % self.n_segments == 0

    def carry_in(self, index: int, batch: dict, mems) -> dict:
        """Batch ``index`` with the memory of the step before, or none at the start of an epoch."""
        return {**batch, "mems": None if self.starts_epoch(index) else mems}

    @staticmethod
    def carry_out(output):
        return output.mems

    def get(self, index: int) -> dict[str, torch.Tensor]:
        start = (index % self.n_segments) * self.segment
        end = min(start + self.segment, self.streams.shape[1] - 1)
        return {"input_ids": self.streams[:, start:end].long(), "labels": self.streams[:, start + 1 : end + 1].long()}
