"""Retry policy: how long a batch backs off before resending throttled or unanswered statements, and when the
whole run gives up (no write has succeeded for MAX_STALL_SECONDS). There is no per-batch attempt budget: a
throttled table is ridden out at a lower rate (capacity.py), and a lost answer is resent safely (the marker
condition answers `already_done` for a write that did land).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Hashable, Iterable
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


def _never_paused() -> float:
    return 0.0


@dataclass
class StallWatch:
    """When the run last made progress (a statement settled); stalled after `limit` seconds without any. Time the run
    spent paused on purpose (`paused`: seconds paused so far, consumer pacing) is not a stall and does not count."""

    limit: float
    clock: Clock = time.monotonic
    paused: Callable[[], float] = _never_paused
    _last: float = field(init=False)
    _paused_then: float = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._last, self._paused_then = self.clock(), self.paused()

    def progress(self) -> None:
        with self._lock:
            self._last, self._paused_then = self.clock(), self.paused()

    def stalled_for(self) -> float:
        """Seconds since the last progress, less the time paused since."""
        with self._lock:
            return self.clock() - self._last - (self.paused() - self._paused_then)

    def stalled(self) -> bool:
        return self.stalled_for() >= self.limit


@dataclass
class HotPartitions:
    """Partitions DynamoDB throttled for their key range (ThrottlingReasons ...KeyRange...): each backs off on its own,
    exponentially while it stays hot, and the rest of the run keeps its rate (the adaptive rate is not cut)."""

    policy: RetryPolicy
    clock: Clock = time.monotonic
    _until: dict[Hashable, float] = field(default_factory=dict, init=False, repr=False)
    _strikes: dict[Hashable, int] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def throttled(self, partitions: Iterable[Hashable]) -> None:
        """A request holding items of `partitions` was throttled for its key range: each backs off."""
        with self._lock:
            now = self.clock()
            for partition in partitions:
                strikes = self._strikes.get(partition, 0)
                self._strikes[partition] = strikes + 1
                self._until[partition] = max(self._until.get(partition, now), now + self.policy.delay(strikes))

    def any(self) -> bool:
        """True while some partition is (or was lately) hot."""
        return bool(self._until)

    def wait(self, partitions: Iterable[Hashable]) -> float:
        """Seconds until every one of `partitions` may be written again (0 when none is hot)."""
        if not self._until:
            return 0.0
        with self._lock:
            now = self.clock()
            return max((self._until.get(p, now) - now for p in partitions), default=0.0)

    def cooled(self, partitions: Iterable[Hashable]) -> None:
        """A request holding items of `partitions` went through: they are no longer hot."""
        if not self._until:
            return
        with self._lock:
            for partition in partitions:
                self._strikes.pop(partition, None)
                if self._until.get(partition, 0.0) <= self.clock():
                    self._until.pop(partition, None)
