"""Token embeddings and absolute position embeddings.

The paper multiplies token embeddings by sqrt(d_model) (section 3.4) and adds sinusoidal position
encodings (section 3.5):

    PE(pos, 2i) = sin(pos / 10000^(2i / d)),   PE(pos, 2i + 1) = cos(pos / 10000^(2i / d))

BERT and GPT-2 learn their positions instead (``LearnedPositionalEmbedding``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .fast_call import FastCall


class TokenEmbedding(FastCall, nn.Embedding):
    """nn.Embedding whose output is multiplied by ``scale`` (the paper: sqrt(d_model); BERT/GPT: 1)."""

    def __init__(self, vocab_size: int, d_model: int, *, scale: float = 1.0, padding_idx: int | None = None):
        super().__init__(vocab_size, d_model, padding_idx=padding_idx)
        self.scale = scale

    def forward(self, input_ids: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, D)."""
        out = lookup(self.weight, input_ids, self.padding_idx, check_ids)
        return out * self.scale if self.scale != 1.0 else out


def check_ids(input_ids: Tensor, rows: int) -> None:
    """Name the token ids outside [0, rows)."""
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= rows):
        raise ValueError(
            f"input_ids must lie in [0, {rows}); got values from {int(input_ids.min())} to {int(input_ids.max())}"
        )


def lookup(table: Tensor, ids: Tensor, padding_idx: int | None, check) -> Tensor:
    """Rows ``ids`` of ``table`` (``F.embedding``), with ``check(ids, rows)`` naming the ids when one is
    out of range.

    On a CPU the lookup itself refuses such an id (an IndexError), so ids are checked only then: a
    check before every lookup reads the ids twice and costs about 20 us a decoded token. Elsewhere
    (CUDA) an id out of range is a device-side assert, not an error to catch, so they are checked first.
    """
    if ids.device.type != "cpu":
        check(ids, table.shape[0])
        return F.embedding(ids, table, padding_idx)
    try:
        return F.embedding(ids, table, padding_idx)
    except IndexError:
        check(ids, table.shape[0])
        raise


def sinusoidal_table(max_len: int, d_model: int, layout: str = "interleaved") -> Tensor:
    """(max_len, D) table of the paper's sine/cosine encodings.

    ``layout="interleaved"``: even columns sin, odd cos (the formula above, column by column);
    ``"halves"``: the same D/2 sines in columns [0, ceil(D/2)) and the cosines after them, as
    tensor2tensor and Marian store them.
    """
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (L, 1)
    inv_freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
    sin, cos = torch.sin(position * inv_freq), torch.cos(position * inv_freq[: d_model // 2])  # (L, ceil(D/2))
    if layout == "halves":
        return torch.cat([sin, cos], dim=1).float()  # (L, D)
    if layout != "interleaved":
        raise ValueError(f"layout must be 'interleaved' or 'halves', got {layout!r}")
    table = torch.zeros(max_len, d_model, dtype=torch.float64)
    table[:, 0::2], table[:, 1::2] = sin, cos
    return table.float()


def check_positions(position_ids: Tensor, max_len: int) -> None:
    """Name the position ids outside [0, max_len)."""
    if position_ids.numel() and int(position_ids.max()) >= max_len:
        raise ValueError(
            f"position {int(position_ids.max())} is beyond the model's max_position={max_len}; "
            "shorten the input or build the model with a larger max_position"
        )
    if position_ids.numel() and int(position_ids.min()) < 0:
        raise ValueError(f"position ids must not be negative; got {int(position_ids.min())}")


class SinusoidalPositionalEmbedding(FastCall, nn.Module):
    """Fixed sinusoidal encodings, looked up by position id; nothing to learn or save."""

    def __init__(self, max_len: int, d_model: int, *, layout: str = "interleaved") -> None:
        super().__init__()
        self.max_len = max_len
        self.register_buffer("table", sinusoidal_table(max_len, d_model, layout), persistent=False)

    def forward(self, position_ids: Tensor) -> Tensor:
        """(B, T) or (T,) position ids -> (..., T, D)."""
        return lookup(self.table, position_ids, None, check_positions)


class LearnedPositionalEmbedding(FastCall, nn.Embedding):
    """One learned vector per absolute position (BERT, GPT-2).

    ``offset``: position p reads row p + offset, a named departure for RoBERTa, whose table keeps its
    first ``padding_idx + 1`` rows for padding and counts real positions from ``padding_idx + 1``.
    """

    def __init__(self, max_len: int, d_model: int, *, offset: int = 0) -> None:
        super().__init__(max_len + offset, d_model)
        self.offset = offset

    def forward(self, position_ids: Tensor) -> Tensor:
        """(B, T) or (T,) position ids -> (..., T, D)."""
        if self.offset:
            position_ids = position_ids + self.offset
        return lookup(self.weight, position_ids, None, check_positions)
