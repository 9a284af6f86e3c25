"""Reads that hold: every Query and Scan of the selection goes through `ReadPace`, which keeps the read budget
(MAX_RCU_PER_SECOND, charged from each page's ConsumedCapacity, empty filtered pages included) and rides out
throttling with the writes' backoff and stall rule (MAX_STALL_SECONDS without a successful read stops the run).

botocore retries a throttled read a few times by itself; what is still throttled after that comes here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stream_rerun.errors import RunAbortedError, as_rerun_error, is_retryable
from stream_rerun.pacing import Clock, Pacer
from stream_rerun.retry import RetryPolicy


@dataclass
class ReadPace:
    """The read budget (`rcu_per_second`, None: none) and the retry policy of the selection's reads."""

    rcu_per_second: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Clock = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    consumed: float = 0.0  # read units DynamoDB reported, the whole run
    throttled: int = 0  # reads still throttled after botocore's own attempts
    _pacer: Pacer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pacer = Pacer(self.rcu_per_second or math.inf, self.clock)

    def call(self, fn: Callable[..., Any], doing: str, **params: Any) -> Any:
        """One Query or Scan page, within the budget, retried while DynamoDB throttles it. Raises RerunError."""
        params = {**params, "ReturnConsumedCapacity": "TOTAL"}
        failing_since: float | None = None
        attempt = 0
        while True:
            wait = self._pacer.reserve(0.0)  # the previous pages' units, charged after each, set when this one may go
            if wait > 0:
                self.sleep(wait)
            try:
                page = fn(**params)
            except (BotoCoreError, ClientError) as exc:
                if not is_retryable(exc):
                    raise as_rerun_error(exc, "DynamoDB", doing) from None
                now = self.clock()
                failing_since = now if failing_since is None else failing_since
                self.throttled += 1
                if now - failing_since >= self.retry.stall_s:
                    last = as_rerun_error(exc, "DynamoDB", doing)
                    raise RunAbortedError(
                        f"no read succeeded for {now - failing_since:.0f} s while {doing} "
                        f"(MAX_STALL_SECONDS={self.retry.stall_s:g}): last error {last}"
                    ) from None
                self.sleep(self.retry.delay(attempt))
                attempt += 1
                continue
            self._charge(page)
            return page

    def _charge(self, page: Any) -> None:
        units = sum(float(c.get("CapacityUnits", 0)) for c in _consumed(page))
        self.consumed += units
        self._pacer.settle(0.0, units)


def _consumed(page: Any) -> list[Any]:
    found = page.get("ConsumedCapacity")
    if found is None:
        return []
    return found if isinstance(found, list) else [found]
