"""Python's full garbage collections at the end of a unit of work, not in the middle of one.

Python starts a full collection whenever the objects that outlived younger collections reach a
quarter of the old ones. A pipeline makes such objects in bulk (a batch's analysis lives until the
batch is published, a chunk's tokens until the chunk is tagged), so full collections came several
times per unit of work, each walking everything the process holds, and most freed nothing
(SaudiNewsNet: 22 in the flow, 7.9-8.8 s of its time). While a run lasts, the flow and its workers
therefore start none by themselves: the flow runs one after each batch and a worker one before
each chunk, when what the previous unit made has been released. Younger generations are collected
as usual, so short-lived cycles still go at once.
"""

from __future__ import annotations

import gc
import time
from collections import Counter

# Generation-1 collections before Python starts a full one by itself: never, in practice.
FULL_NEVER = 1_000_000_000


class GcClock:
    """Seconds this process spends in the cyclic garbage collector, by generation, while it is
    started; and, meanwhile, no automatic full collection (the thresholds come back at ``stop``).

    The seconds are reported as stages of the run: in a long run the collector's pauses land
    wherever objects happen to be allocated, and a profile then blames innocent lines for them.
    """

    def __init__(self, where: str | None = None) -> None:
        self.suffix = f" ({where})" if where else ""  # the stage names' suffix, e.g. " (flow)"
        self.seconds: Counter[str] = Counter()
        self._started = 0.0
        self._thresholds: tuple[int, int, int] | None = None

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[f"python gc, generation {info['generation']}{self.suffix}"] += time.perf_counter() - self._started

    def start(self) -> GcClock:
        gc.callbacks.append(self)
        before = gc.get_threshold()
        gc.set_threshold(before[0], before[1], FULL_NEVER)
        self._thresholds = before
        return self

    def stop(self) -> None:
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
        gc.callbacks.remove(self)

    def take(self) -> dict[str, float]:
        """The seconds counted since the last call (a worker reports them with each chunk)."""
        out = dict(self.seconds)
        self.seconds.clear()
        return out


def collect_full() -> None:
    """The full collection the finished unit of work would have triggered."""
    gc.collect()
