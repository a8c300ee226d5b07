"""Position-wise feed-forward network: FFN(x) = W2 act(W1 x + b1) + b2 (Vaswani et al. 2017, eq. 2).

The same two-layer network is applied to every position independently. ``swiglu`` (Shazeer 2020)
is the gated variant used by LLaMA-style models: W2 (silu(W1 x) * W3 x).
"""

from __future__ import annotations

import functools

import torch.nn.functional as F
from torch import Tensor, nn

from .dropout import Dropout
from .fast_call import FastCall, Linear

ACTIVATIONS = {
    "relu": F.relu,
    "gelu": F.gelu,  # exact erf form, as BERT's "gelu"
    "gelu_tanh": functools.partial(F.gelu, approximate="tanh"),  # GPT-2's "gelu_new"
    "silu": F.silu,
}
GATED = {"swiglu": F.silu, "geglu": F.gelu}


def get_activation(name: str):
    """Look up an activation by name, with an error listing the known ones."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class FeedForward(FastCall, nn.Module):
    """Two linear maps around an activation, applied at every position.

    Args:
        d_model: input and output width.
        d_ff: hidden width (the paper uses 4 * d_model).
        activation: relu, gelu, gelu_tanh, silu, or the gated swiglu / geglu.
        dropout: dropout on the hidden activations while training.
        bias: biases in the linear maps.
    """

    def __init__(
        self, d_model: int, d_ff: int, *, activation: str = "relu", dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        self.gated = activation in GATED
        self.act = GATED[activation] if self.gated else get_activation(activation)
        self.fc1 = Linear(d_model, d_ff, bias=bias)
        self.gate = Linear(d_model, d_ff, bias=bias) if self.gated else None
        self.fc2 = Linear(d_ff, d_model, bias=bias)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, T, D)."""
        h = self.act(self.fc1(x))
        if self.gate is not None:
            h = h * self.gate(x)
        if self.training and self.dropout.p > 0:
            h = self.dropout(h)
        return self.fc2(h)
