"""Retry policy: how long a batch backs off before resending throttled or unanswered statements, and when the
whole run gives up (no write has succeeded for MAX_STALL_SECONDS). There is no per-batch attempt budget: a
throttled table is ridden out at a lower rate (capacity.py), and a lost answer is resent safely (the marker
condition answers `already_done` for a write that did land).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from stream_rerun.pacing import Clock


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff between attempts of one batch, and the run's stall limit."""

    base_s: float = 0.05
    cap_s: float = 5.0
    stall_s: float = 300.0

    def delay(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: half fixed, half random."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(attempt, 30))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass
class StallWatch:
    """When the run last made progress (a statement settled); stalled after `limit` seconds without any."""

    limit: float
    clock: Clock = time.monotonic
    _last: float = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._last = self.clock()

    def progress(self) -> None:
        with self._lock:
            self._last = self.clock()

    def stalled_for(self) -> float:
        """Seconds since the last progress."""
        with self._lock:
            return self.clock() - self._last

    def stalled(self) -> bool:
        return self.stalled_for() >= self.limit
