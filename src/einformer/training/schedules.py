"""Learning-rate schedules, as multipliers of the peak learning rate (for ``LambdaLR``).

* ``inverse_sqrt``: the paper's schedule (section 5.3), linear warm-up then decay as 1/sqrt(step):
  lr = d_model^-0.5 * min(step^-0.5, step * warmup^-1.5). Written here with the peak as a
  parameter: multiplier = min(step / warmup, sqrt(warmup / step)); the paper's own numbers
  (d_model=512, warmup=4000) are a peak of 512^-0.5 * 4000^-0.5 = 7.0e-4.
* ``linear``: warm-up, then linear decay to 0 at ``total_steps``.
* ``cosine``: warm-up, then half a cosine down to 0 at ``total_steps``.
* ``constant``: warm-up, then flat.
"""

from __future__ import annotations

import math
from collections.abc import Callable

SCHEDULES = ("inverse_sqrt", "linear", "cosine", "constant")


def lr_multiplier(name: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Multiplier of the peak learning rate at optimizer step ``s`` (0-based, as LambdaLR counts)."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {SCHEDULES}")
    warmup = max(warmup_steps, 0)

    def multiplier(s: int) -> float:
        step = s + 1  # the first update uses step 1, as in the paper's formula
        if warmup and step < warmup:
            return step / warmup
        if name == "inverse_sqrt":
            return math.sqrt(max(warmup, 1) / step)
        if name == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        if name == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return multiplier
