"""Progress that suits where it goes: tqdm's bar on a terminal, plain lines in a log (training's steps,
a pipeline's inputs).

A redirected log (``einformer demo > log 2>&1``, a CI job, ``nohup``) gets no carriage-return
updates: one line each time another ``every_fraction`` of the steps is done or ``every_seconds``
have passed, whichever comes first. Both get one line, after a few warm-up steps, stating the
expected training time from the rate measured on this machine (its threads and the cores it sees)
and the steps left, since a figure from another machine says little about this one.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm


def visible_cores() -> int:
    """The cores this process may run on (its affinity mask, e.g. under taskset or a container)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """``update`` / ``set_postfix`` / ``write`` / ``close``, as a tqdm bar offers them.

    Args:
        total: the number of steps of the run; ``initial`` of them are done (a resumed run).
        enabled: False prints nothing (``--no-progress``, ranks other than 0).
        stream: where progress goes (stderr); a terminal gets the bar, anything else plain lines.
        every_fraction, every_seconds: in a log, a line per this share of the steps or this time.
        warmup_steps: steps timed (after the first, which pays for allocation) for the estimate.
        unit: what is counted ("step"; a pipeline counts "input"s).
        estimate: state the expected time after ``warmup_steps`` (training: one update per step).
        leave: keep the bar on the terminal when done (a pipeline's goes).
        clock: seconds as a float; tests pass a fake one.
    """

    def __init__(
        self,
        total: int,
        *,
        initial: int = 0,
        enabled: bool = True,
        stream=None,
        desc: str = "train",
        every_fraction: float = 0.1,
        every_seconds: float = 30.0,
        warmup_steps: int = 5,
        clock: Callable[[], float] = time.perf_counter,
        unit: str = "step",
        estimate: bool = True,
        leave: bool = True,
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.done, self.initial, self.enabled, self.desc = total, initial, initial, enabled, desc
        self.every_fraction, self.every_seconds, self.warmup_steps, self.clock = (
            every_fraction,
            every_seconds,
            warmup_steps,
            clock,
        )
        self.unit, self.estimate = unit, estimate
        self.terminal = enabled and _is_terminal(self.stream)
        self.bar = (
            tqdm(total=total, initial=initial, file=self.stream, dynamic_ncols=True, desc=desc, unit=unit, leave=leave)
            if self.terminal
            else None
        )
        self.postfix: dict[str, str] = {}
        self.start = self.last_line = self.clock()
        self.first_step_end: float | None = None
        self.next_fraction = (initial / max(total, 1) // every_fraction + 1) * every_fraction
        self.estimated: float | None = None  # the expected training time, once stated

    # ------------------------------------------------------------ the tqdm surface
    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        now = self.clock()
        if self.bar is not None:
            self.bar.update(n)
        if self.estimate:
            self._maybe_estimate(now)
        if self.bar is None and self._line_due(now):
            self._print(self._status(now))
            self.last_line = now

    def set_postfix(self, **values) -> None:
        self.postfix = {k: str(v) for k, v in values.items()}
        if self.bar is not None:
            self.bar.set_postfix(**values)

    def write(self, line: str) -> None:
        """A line of its own (an evaluation), below the bar on a terminal; to stdout as tqdm.write."""
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ what a log gets
    def _line_due(self, now: float) -> bool:
        if self.done >= self.total:
            return True
        if self.done / max(self.total, 1) >= self.next_fraction - 1e-9:
            while self.done / max(self.total, 1) >= self.next_fraction - 1e-9:
                self.next_fraction += self.every_fraction
            return True
        return now - self.last_line >= self.every_seconds

    def _status(self, now: float) -> str:
        elapsed, run = now - self.start, self.done - self.initial
        share = self.done / max(self.total, 1)
        line = f"{self.desc} {self.unit} {self.done}/{self.total} ({share:.0%}), {_duration(elapsed)}"
        if 0 < run and self.done < self.total:
            line += f", about {_duration(elapsed / run * (self.total - self.done))} left"
        if self.postfix:
            line += "; " + ", ".join(f"{k} {v}" for k, v in self.postfix.items())
        return line

    def _maybe_estimate(self, now: float) -> None:
        """After the first step (allocation, warm caches) and ``warmup_steps`` more: state the expected time."""
        run = self.done - self.initial
        if run == 1:
            self.first_step_end = now
        if self.estimated is not None or self.first_step_end is None or run < 1 + self.warmup_steps:
            return
        per_step = (now - self.first_step_end) / (run - 1)
        self.estimated = (now - self.start) + per_step * (self.total - self.done)
        line = (
            f"{self.desc}: expected time about {_duration(self.estimated)} for {self.total - self.initial} steps "
            f"({per_step:.2f} s/step measured on steps {self.initial + 2}-{self.done}, "
            f"{torch.get_num_threads()} threads on {visible_cores()} visible cores)"
        )
        if self.bar is not None:
            self.bar.write(line)
        else:
            self._print(line)

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)
