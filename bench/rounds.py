"""Interleaved timing for the bench scripts: every side once a round, in a shuffled order.

The host's speed drifts within minutes, so sides are timed in rounds rather than one after another,
and the order within a round is shuffled (seeded by the round's number, so a rerun repeats it): a
side that always ran second would find the caches as the first left them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


def shuffled_rounds(
    sides: dict[str, Callable[[], object]], rounds: int, *, warmup: int = 0, before: Callable[[], object] | None = None
) -> dict[str, list[float]]:
    """Seconds per call of each side, ``rounds`` times, after ``warmup`` untimed rounds; ``before``
    (untimed) runs before each side, e.g. to start it with cold caches."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(warmup + rounds):
        order = list(sides)
        random.Random(r).shuffle(order)
        for name in order:
            if before is not None:
                before()
            start = time.perf_counter()
            sides[name]()
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    return times
