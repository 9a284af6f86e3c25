"""What the engine counts and what may hold it: the run's counters, and the gate the stream's consumers' lag closes
(consumer_lag.ConsumerLag; OpenGate without consumer pacing)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from stream_rerun.errors import RerunError


class Gate(Protocol):
    """What holds new write requests while the stream's consumers are behind (consumer_lag.ConsumerLag)."""

    def closed(self) -> bool: ...
    def paused_s(self) -> float: ...  # seconds paused so far in all: not a stall
    def exhausted(self) -> RerunError | None: ...  # the error that ends a run paused too long in all
    def progress_fields(self) -> dict[str, Any]: ...  # what progress lines say while it is closed


class OpenGate:
    """No consumer pacing: never closed."""

    def closed(self) -> bool:
        return False

    def paused_s(self) -> float:
        return 0.0

    def exhausted(self) -> RerunError | None:
        return None

    def progress_fields(self) -> dict[str, Any]:
        return {}


@dataclass
class Counters:
    """The run's counts; every item selected ends in exactly one of the outcome counters or `unprocessed`."""

    selected: int = 0
    touched: int = 0
    already_done: int = 0
    vanished: int = 0
    filtered_out: int = 0
    failed: int = 0
    unprocessed: int = 0
    retried_requests: int = 0
    throttled_statements: int = 0
    lost_answers: int = 0
    key_range_throttles: int = 0  # requests throttled for one hot partition: only its items back off
    consumed_wcu: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int | float = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def add_many(self, counts: dict[str, int | float]) -> None:
        """Several counters at once, under one lock (a request's outcomes, not one lock per item)."""
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}
