"""Adaptive Computation Time (Graves 2016), per position.

A recurrent step is applied to every position again and again; after step n each position emits a
halting probability h_n = sigmoid(w . s_n + b). A position halts at the first step N whose running
sum of halting probabilities reaches 1 - epsilon (or at ``max_steps``). Its output is the mean field

    y = sum_{n=1..N} p_n s_n,   p_n = h_n for n < N,   p_N = R = 1 - sum_{n<N} h_n,

so the weights p_n always sum to one, and the ponder cost N + R, added to the loss with a weight
tau, makes thinking longer cost something (R keeps it differentiable).

``mode="graves"`` is the above. ``mode="ut"`` is the Universal Transformer's "basic" variant
(Dehghani et al. 2019), a named departure: instead of averaging all steps at the end, each step
interpolates s <- p_n * step(s) + (1 - p_n) * s, so the next step reads the interpolated state, not
step(s); the output is the final state.

What halted positions show to running ones: a halted position's state stops changing (its last
state before halting, in "graves" mode its unweighted state s_N), so running positions keep
attending to it as it was when it halted.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

MODES = ("graves", "ut")


class AdaptiveComputationTime(nn.Module):
    """Run ``step(state, n)`` up to ``max_steps`` times per position, halting adaptively.

    Args:
        d_model: width of the state read by the halting unit.
        max_steps: the most steps any position takes.
        epsilon: a position halts once its cumulative halting probability reaches 1 - epsilon.
        init_bias: the halting unit's initial bias (positive: halt early at first, as Graves advises).
        mode: "graves" (mean field of all steps) or "ut" (the Universal Transformer's interpolation).
    """

    def __init__(
        self, d_model: int, max_steps: int, *, epsilon: float = 0.01, init_bias: float = 1.0, mode: str = "graves"
    ) -> None:
        super().__init__()
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if not 0.0 < epsilon < 1.0:
            raise ValueError(f"epsilon must be in (0, 1), got {epsilon}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.max_steps, self.epsilon, self.mode = max_steps, epsilon, mode
        self.halting = nn.Linear(d_model, 1)
        nn.init.zeros_(self.halting.weight)
        nn.init.constant_(self.halting.bias, init_bias)

    def forward(
        self,
        state: Tensor,
        step: Callable[[Tensor, int], Tensor],
        *,
        mask: Tensor | None = None,
        early_stop: bool = True,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Args:
            state: (B, T, D) initial states.
            step: (state (B, T, D), step number n starting at 1) -> new states (B, T, D).
            mask: (B, T), 1 = real position, 0 = padding (padding halts at once and outputs zeros).
            early_stop: stop the loop once every position has halted (False runs all ``max_steps``,
                with halted positions frozen: the same result, used to test that).

        Returns:
            output (B, T, D), ponder_steps N (B, T), remainders R (B, T), ponder_cost: mean of N + R
            over real positions (a scalar).
        """
        b, t, _ = state.shape
        real = torch.ones(b, t, dtype=torch.bool, device=state.device) if mask is None else mask.bool()
        threshold = 1.0 - self.epsilon
        cumulative = state.new_zeros(b, t)  # sum of h_n of earlier steps
        running = real.clone()  # positions that have not halted
        steps = state.new_zeros(b, t)
        remainders = state.new_zeros(b, t)
        output = torch.zeros_like(state)
        for n in range(1, self.max_steps + 1):
            new = step(state, n)
            h = torch.sigmoid(self.halting(new)).squeeze(-1)  # (B, T)
            last = n == self.max_steps
            halts = running & ((cumulative + h >= threshold) | last)  # halting at this step
            remainder = 1.0 - cumulative
            p = torch.where(halts, remainder, torch.where(running, h, torch.zeros_like(h)))  # (B, T)
            steps = steps + running.to(steps.dtype)
            remainders = torch.where(halts, remainder, remainders)
            cumulative = cumulative + torch.where(running & ~halts, h, torch.zeros_like(h))
            if self.mode == "graves":
                output = output + p[..., None] * new
                state = torch.where(running[..., None], new, state)  # halted positions freeze
            else:  # "ut": interpolate the state itself; the output is the final state
                state = torch.where(running[..., None], p[..., None] * new + (1 - p[..., None]) * state, state)
                output = state
            running = running & ~halts
            if early_stop and not bool(running.any()):
                break
        output = output * real[..., None]
        count = real.sum().clamp(min=1)
        ponder_cost = ((steps + remainders) * real).sum() / count
        return output, steps, remainders, ponder_cost
