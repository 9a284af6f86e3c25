"""Pacing: a rate schedule (Pacer), an adaptive rate that backs off when DynamoDB throttles (AdaptiveRate), and a
meter of what was really consumed (RateMeter). Each takes a clock, so tests drive them with a fake one.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]


class Pacer:
    """Keeps a long-run rate of `rate` units/s: each reservation pushes the next start by units/rate.

    Idle time is not banked (a pause never allows a burst afterwards). A reservation made on an estimate is
    corrected with `settle` once the real units are known, which moves the schedule by the difference.
    """

    def __init__(self, rate: float = math.inf, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._next = clock()
        self._lock = threading.Lock()

    def reserve(self, units: float) -> float:
        """Reserve `units`; return how many seconds the caller must wait before using them."""
        with self._lock:
            now = self._clock()
            start = max(self._next, now)
            self._next = start + units / self.rate
            return start - now

    def settle(self, reserved: float, actual: float) -> None:
        """Charge `actual` units in place of the `reserved` estimate."""
        with self._lock:
            self._next += (actual - reserved) / self.rate


class RateMeter:
    """Units per second over the last `window` seconds (what DynamoDB really accepted)."""

    def __init__(self, window: float = 2.0, clock: Clock = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._events: deque[tuple[float, float]] = deque()
        self._first: float | None = None
        self._lock = threading.Lock()

    def add(self, units: float) -> None:
        with self._lock:
            now = self._clock()
            self._first = now if self._first is None else self._first
            self._events.append((now, units))

    def rate(self) -> float:
        """Units per second since the window's start (or since the first unit, early in a run)."""
        with self._lock:
            now = self._clock()
            while self._events and self._events[0][0] <= now - self.window:
                self._events.popleft()
            if self._first is None:
                return 0.0
            span = min(self.window, max(now - self._first, 0.05))
            return sum(units for _, units in self._events) / span


class AdaptiveRate:
    """Additive increase, multiplicative decrease of a write rate, never above `ceiling` (None: no cap).

    Until the first throttle the rate is the ceiling (unlimited without one). A throttle sets it to `decrease` x the
    rate DynamoDB actually accepted lately (at most once per `interval`: one congestion event, one cut); every
    `interval` without a throttle adds `increase` x the rate of the last cut, so it climbs back to the edge linearly.
    The rate never falls below `floor_share` of the first cut: throttling that does not follow the rate (a hot key,
    another writer) is left to each batch's backoff, not answered with a rate that decays to nothing.
    """

    def __init__(
        self,
        ceiling: float | None,
        clock: Clock = time.monotonic,
        *,
        decrease: float = 0.8,
        increase: float = 0.02,
        interval: float = 0.5,
        floor: float = 1.0,
        floor_share: float = 0.1,
    ) -> None:
        self.ceiling = ceiling if ceiling is not None else math.inf
        self.rate = self.ceiling
        self.decrease, self.increase, self.interval, self.floor = decrease, increase, interval, floor
        self.floor_share = floor_share
        self._cuts = 0
        self._clock = clock
        self._changed = clock() - interval
        self._step = 0.0
        self._lock = threading.Lock()

    def throttled(self, accepted_rate: float) -> bool:
        """A throttle was seen while DynamoDB accepted `accepted_rate`; True when the rate was cut."""
        with self._lock:
            now = self._clock()
            if now - self._changed < self.interval:
                return False
            base = min(self.rate, accepted_rate) if accepted_rate > 0 else self.rate
            if math.isinf(base):
                base = self.floor / self.decrease
            self.rate = max(self.floor, min(self.ceiling, base * self.decrease))
            if self._cuts == 0:
                self.floor = max(self.floor, self.rate * self.floor_share)
            self._cuts += 1
            self._step = max(self.floor * self.increase, self.rate * self.increase)
            self._changed = now
            return True

    def succeeded(self) -> None:
        """A request went through unthrottled: climb by one step per `interval`."""
        with self._lock:
            now = self._clock()
            if math.isinf(self.rate) or now - self._changed < self.interval:
                return
            steps = int((now - self._changed) / self.interval)
            self.rate = min(self.ceiling, self.rate + steps * self._step)
            self._changed += steps * self.interval
