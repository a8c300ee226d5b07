"""Token embeddings and absolute position embeddings.

The paper multiplies token embeddings by sqrt(d_model) (section 3.4) and adds sinusoidal position
encodings (section 3.5):

    PE(pos, 2i) = sin(pos / 10000^(2i / d)),   PE(pos, 2i + 1) = cos(pos / 10000^(2i / d))

BERT and GPT-2 learn their positions instead (``LearnedPositionalEmbedding``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class TokenEmbedding(nn.Embedding):
    """nn.Embedding whose output is multiplied by ``scale`` (the paper: sqrt(d_model); BERT/GPT: 1)."""

    def __init__(self, vocab_size: int, d_model: int, *, scale: float = 1.0, padding_idx: int | None = None):
        super().__init__(vocab_size, d_model, padding_idx=padding_idx)
        self.scale = scale

    def forward(self, input_ids: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, D)."""
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.num_embeddings):
            raise ValueError(
                f"input_ids must lie in [0, {self.num_embeddings}); got values from "
                f"{int(input_ids.min())} to {int(input_ids.max())}"
            )
        out = super().forward(input_ids)
        return out * self.scale if self.scale != 1.0 else out


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


def _check_positions(position_ids: Tensor, max_len: int) -> None:
    if position_ids.numel() and int(position_ids.max()) >= max_len:
        raise ValueError(
            f"position {int(position_ids.max())} is beyond the model's max_position={max_len}; "
            "shorten the input or build the model with a larger max_position"
        )


class SinusoidalPositionalEmbedding(nn.Module):
    """Fixed sinusoidal encodings, looked up by position id; nothing to learn or save."""

    def __init__(self, max_len: int, d_model: int, *, layout: str = "interleaved") -> None:
        super().__init__()
        self.max_len = max_len
        self.register_buffer("table", sinusoidal_table(max_len, d_model, layout), persistent=False)

    def forward(self, position_ids: Tensor) -> Tensor:
        """(B, T) or (T,) position ids -> (..., T, D)."""
        _check_positions(position_ids, self.max_len)
        return self.table[position_ids]


class LearnedPositionalEmbedding(nn.Embedding):
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
        _check_positions(position_ids, self.num_embeddings)
        return super().forward(position_ids)
