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

    def restart(self) -> None:
        """Drop the schedule of the reservations still waiting (the rate changed: they reserve again at the new
        rate), so the next starts now."""
        with self._lock:
            self._next = self._clock()


class RateMeter:
    """Units per second over the last `window` seconds (what DynamoDB really accepted)."""

    def __init__(self, window: float = 1.0, clock: Clock = time.monotonic, *, whole: bool = False) -> None:
        self.window = window
        self.whole = whole  # always divide by the whole window (early in a run: an underestimate, never a burst's rate)
        self._clock = clock
        self._events: deque[tuple[float, float]] = deque()
        self._first: float | None = None
        self._lock = threading.Lock()

    def add(self, units: float) -> None:
        with self._lock:
            now = self._clock()
            self._first = now if self._first is None else self._first
            self._events.append((now, units))

    def known(self) -> bool:
        """True once the meter has seen a quarter of a window: before that its rate says more about the start-up (first
        connections, a cold server) than about what DynamoDB accepts."""
        with self._lock:
            return self._first is not None and self._clock() - self._first >= self.window / 4

    def rate(self) -> float:
        """Units per second since the window's start (or since the first unit, early in a run)."""
        with self._lock:
            now = self._clock()
            while self._events and self._events[0][0] <= now - self.window:
                self._events.popleft()
            if self._first is None:
                return 0.0
            span = self.window if self.whole else min(self.window, max(now - self._first, 0.05))
            return sum(units for _, units in self._events) / span

    def paused(self, seconds: float) -> None:
        """Nothing was sent for `seconds` (consumer pacing): what was accepted before the pause counts as accepted just
        now, so the rate after it is not mistaken for what DynamoDB accepts."""
        with self._lock:
            now = self._clock()
            self._events = deque((min(at + seconds, now), units) for at, units in self._events)
            if self._first is not None:
                self._first += seconds


class AdaptiveRate:
    """The write rate: slow start, then additive increase and multiplicative decrease, never above `ceiling`.

    With a cap the run starts at the cap (the operator's budget). Without one it starts at `start` units/s and
    doubles every `start_interval` until the first throttle, and neither phase raises it past the rate DynamoDB was seen
    to accept twice over (so a burst is at most about twice what the table takes; in slow start the caller reports
    what was accepted over the last step, so that the rate doubles each step while the table keeps up). A throttle
    sets the rate to `decrease` x the rate DynamoDB actually accepted lately, at most once per `cooldown` and never
    for a request sent before the last cut (one congestion event, one cut); every `interval` without a throttle then
    adds `increase` x the rate accepted at the last cut (the edge), so the rate climbs back linearly, in a second or
    two, to `near` x the edge, and from there `probe` times as fast: the edge is probed gently, so congestion events
    (and the statements throttled in each, those already in flight) come several seconds apart. It never falls below
    `floor_share` of the first cut: throttling that does not follow the rate (a hot key, another writer) is left to
    each batch's backoff, not answered with a rate that decays to nothing.
    """

    def __init__(
        self,
        ceiling: float | None,
        clock: Clock = time.monotonic,
        *,
        start: float = 100.0,
        decrease: float = 0.8,
        increase: float = 0.05,
        interval: float = 0.5,
        start_interval: float = 0.25,
        cooldown: float = 1.0,
        floor: float = 1.0,
        floor_share: float = 0.1,
        near: float = 0.9,
        probe: float = 0.25,
        first_cut: float = 0.5,
    ) -> None:
        self.ceiling = ceiling if ceiling is not None else math.inf
        self.rate = self.ceiling if ceiling is not None else start
        self.start = start
        self.slow_start = ceiling is None
        self.decrease, self.increase, self.interval, self.cooldown = decrease, increase, interval, cooldown
        self.start_interval = start_interval
        self.floor, self.floor_share = floor, floor_share
        self.near, self.probe, self.first_cut = near, probe, first_cut
        self._edge = math.inf  # the rate DynamoDB accepted at the last cut
        self.cuts = 0  # cuts so far: a request reserved before the last one was sent at a rate already answered
        self._peak = 0.0  # the highest accepted rate seen
        self._clock = clock
        self._changed = clock()  # last growth step
        self._cut_at = -math.inf  # last cut
        self._lock = threading.Lock()

    def throttled(self, accepted_rate: float, sent_after: int | None = None) -> bool:
        """A throttle was seen while DynamoDB accepted `accepted_rate` (0: not known yet); True if the rate was cut.
        `sent_after`: the cuts made when the throttled request was reserved; one sent before the last cut belongs to
        the congestion event that cut answered. At most one cut per `cooldown` in any case."""
        with self._lock:
            now = self._clock()
            if (sent_after is not None and sent_after < self.cuts) or now - self._cut_at < self.cooldown:
                return False
            self._peak = max(self._peak, accepted_rate)
            base = min(self.rate, accepted_rate) if accepted_rate > 0 else self.rate
            self._edge = base
            # Leaving slow start, the rate had just doubled (and a burst allowance may have flattered what was
            # accepted): halve it, as TCP does; later cuts are gentler.
            cut = self.first_cut if self.slow_start else self.decrease
            self.rate = max(self.floor, min(self.ceiling, base * cut))
            if self.cuts == 0:
                self.floor = max(self.floor, self.rate * self.floor_share)
            self.slow_start = False
            self.cuts += 1
            self._cut_at = self._changed = now
            return True

    def succeeded(self, accepted_rate: float = 0.0) -> None:
        """A request went through unthrottled while DynamoDB accepted `accepted_rate`: one step per `interval` since
        the last change (doubling in slow start, else additive)."""
        with self._lock:
            self._peak = max(self._peak, accepted_rate)
            now = self._clock()
            interval = self.start_interval if self.slow_start else self.interval
            steps = int((now - self._changed) / interval)
            if steps <= 0:
                return
            if self.slow_start:
                grown = self.rate * 2.0**steps
            else:
                # Steps are a share of the edge: the peak may be a burst DynamoDB's burst capacity let through once.
                step = self.increase * (self._edge if self._edge < math.inf else max(self.rate, self._peak))
                grown = self.rate
                for _ in range(steps):
                    grown += step * (self.probe if grown >= self.near * self._edge else 1.0)
            # Only a rate that is used is probed further: at most twice what DynamoDB was seen to accept.
            self.rate = min(self.ceiling, max(self.rate, min(grown, 2 * max(self._peak, self.start))))
            self._changed += steps * interval

    def paused(self, seconds: float) -> None:
        """Writes were held for `seconds` (consumer pacing): the growth steps and the cut's cooldown move on by as much,
        so the rate resumes as it was, neither grown by idle steps nor open to a second cut."""
        with self._lock:
            self._changed += seconds
            self._cut_at += seconds
