"""Pacing by the consumers' lag (MAX_CONSUMER_LAG_SECONDS): a watcher reads each watched Lambda consumer's IteratorAge
once a minute, and the gate it keeps holds new write requests (engine.py) while a consumer is behind.

The gate closes when a consumer's latest IteratorAge is above the limit and opens only when every watched consumer
is below half of it. A pause that lasts MAX_CONSUMER_PAUSE_SECONDS ends the run (resumable with the same RUN_ID). A read
that fails turns pacing off for the rest of the run, with one warning (pacing by write capacity still holds).

What the metrics mean (Lambda Developer Guide, "Types of metrics for Lambda functions" and "Viewing metrics for
Lambda functions"; all in namespace AWS/Lambda, sent in 1-minute intervals):

- IteratorAge (milliseconds; dimension FunctionName): for a stream's event source mapping, the age of the last record
  of a batch when Lambda sent it to the function. Lambda emits it per batch processed, so there is none while the
  stream is idle: no datapoint in the last LOOKBACK_S counts as not lagging, except for a consumer that holds the
  gate: one that stops being invoked (throttled, reserved concurrency 0, stuck) sends no datapoint either, so it keeps
  its last age (and the pause) until a datapoint says it is below half the limit.
- FunctionName aggregates every version and alias of a function; Resource holds one version or alias. A qualified
  ARN or `name:alias` is watched by its FunctionName: the maximum over all its aliases is never below the alias's own
  (so a lagging alias is never missed), and that series exists whatever the mapping points at.
- Errors (Sum): invocations that ended in a function error. Like IteratorAge, it covers the whole function: every
  event source and caller of it, not only this table's stream.
- OnFailureDestinationDeliveredEventCount (Sum; dimension EventSourceMappingUUID): records an event source mapping
  sent to its on-failure destination. An event source mapping metric: Lambda emits it only for mappings whose
  MetricsConfig includes EventCount, so it is null unless the mapping's UUID is known and the mapping opted in.
- DestinationDeliveryFailures (Sum; FunctionName): the times Lambda tried to send an event to a destination (a
  stream mapping's on-failure destination included) and failed.
- The summary's window is the run's: the consumer may still be working through the run's records after its last
  write, and CloudWatch shows a minute's data a minute or two later, so the last minutes' errors may be missing.

GetMetricData takes up to 500 queries a call (one call for all the consumers); CloudWatch rounds StartTime down to the
minute (CloudWatch API Reference, GetMetricData), which this module does itself so the 60-s periods are clock minutes.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from stream_rerun.consumers import function_name
from stream_rerun.errors import RerunError, RunAbortedError, as_rerun_error
from stream_rerun.lambda_metrics import PERIOD_S, count, minute, query, read, rounded
from stream_rerun.pacing import Clock

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDataQueryTypeDef

    from stream_rerun.config import Settings

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 60.0  # IteratorAge has 1-minute periods: reading it more often learns nothing new
LOOKBACK_S = 300.0  # the latest datapoint within this long counts; older, or none: not lagging


@dataclass
class Consumer:
    """One watched function: its latest and highest IteratorAge (seconds; None: no datapoint) and time paused for it."""

    name: str
    age_s: float | None = None
    max_age_s: float | None = None
    paused_s: float = 0.0
    holding: bool = False  # the gate is closed and this consumer is not yet below half the limit


class ConsumerLag:
    """The watcher and the gate (thread-safe). Takes the functions to watch as names or ARNs; `mappings` (function ->
    its event source mapping UUIDs on the stream) lets the summary read on-failure deliveries; `on_resume(seconds)` is
    told each pause's length when the gate opens (the write budget resumes at its rate). Clocks and the interval are
    injected so tests run in seconds."""

    def __init__(
        self,
        functions: Sequence[str],
        limit_s: float | None,
        max_pause_s: float,
        cloudwatch: Callable[[], CloudWatchClient],
        *,
        mappings: Mapping[str, Sequence[str]] | None = None,
        on_resume: Callable[[float], None] | None = None,
        interval_s: float = POLL_INTERVAL_S,
        clock: Clock = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        dry_run: bool = False,
    ) -> None:
        self.consumers = {name: Consumer(name) for name in dict.fromkeys(function_name(f) for f in functions)}
        self.mappings: dict[str, list[str]] = {}
        for given, uuids in (mappings or {}).items():
            self.mappings.setdefault(function_name(given), []).extend(uuids)
        self.limit_s, self.max_pause_s, self.dry_run = limit_s, max_pause_s, dry_run
        self.off_reason = "DRY_RUN: nothing is written" if dry_run else _off_reason(limit_s, self.consumers)
        self._cloudwatch = functools.cache(cloudwatch)  # made on first use
        self._on_resume = on_resume or (lambda _seconds: None)
        self.interval_s, self._clock, self._now = interval_s, clock, now
        self.started = now()
        self._closed = self._stopped = False
        self._mark = self._began = clock()  # last accounting; start of the current pause
        self._paused, self._pauses = 0.0, 0
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @classmethod
    def of(cls, settings: Settings, watched: Sequence[str], cloudwatch: Callable[[], CloudWatchClient],
           **options: Any) -> ConsumerLag:  # fmt: skip
        """The run's watcher: MAX_CONSUMER_LAG_SECONDS and MAX_CONSUMER_PAUSE_SECONDS, off in a dry run."""
        return cls(watched, settings.max_consumer_lag_seconds, settings.max_consumer_pause_seconds, cloudwatch,
                   dry_run=settings.dry_run, **options)  # fmt: skip

    @property
    def pacing(self) -> bool:
        return self.off_reason is None

    # ---- the gate (counters.Gate) ----
    def closed(self) -> bool:
        return self._closed

    def paused_s(self) -> float:
        """Seconds paused so far in all, the current pause included."""
        with self._lock:
            return self._paused + (self._clock() - self._mark if self._closed and not self._stopped else 0.0)

    def exhausted(self) -> RerunError | None:
        """The error that ends the run once one pause has lasted MAX_CONSUMER_PAUSE_SECONDS (the run stays paused:
        short pauses that add up do not end it); else None."""
        with self._lock:
            paused = self._clock() - self._began if self._closed and not self._stopped else 0.0
        if paused < self.max_pause_s:
            return None
        worst = self._worst()
        return RunAbortedError(
            f"paused {paused:.0f} s on end for the stream's consumers (MAX_CONSUMER_PAUSE_SECONDS="
            f"{self.max_pause_s:g}): consumer {worst.name} is still behind (IteratorAge {worst.age_s or 0:.0f} s, "
            f"MAX_CONSUMER_LAG_SECONDS={self.limit_s:g}); nothing unsent is lost: rerun with the same RUN_ID once it "
            "has caught up (items already fired are not fired again)"
        )

    def progress_fields(self) -> dict[str, Any]:
        """What a progress line says while the gate is closed: why, which consumer, its age."""
        if not self._closed:
            return {}
        worst = self._worst()
        return {
            "paused_for": "consumer_lag",
            "consumer_function": worst.name,
            "consumer_iterator_age_s": rounded(worst.age_s),
            "consumer_paused_s": round(self.paused_s(), 1),
        }

    # ---- watching ----
    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """While the run writes: one read before the first write, then one every `interval_s` on a thread."""
        self.started = self._now()
        if self.pacing:
            self.poll()
            threading.Thread(target=self._watch, name="consumer-lag", daemon=True).start()
        elif self.limit_s is not None and not self.dry_run:
            log.warning(f"consumer pacing is off: {self.off_reason}",
                        extra={"event": "consumer_pacing_off", "reason": self.off_reason})  # fmt: skip
        try:
            yield
        finally:
            self._stop.set()  # a read in flight is bounded by the client's timeouts (aws.py); not waited for
            with self._lock:
                self._account(self._clock())
                self._stopped = True

    def _watch(self) -> None:
        while self.pacing and not self._stop.wait(self.interval_s):
            self.poll()

    def poll(self) -> None:
        """Read every watched consumer's latest IteratorAge (one GetMetricData call); close or open the gate."""
        end, names = self._now(), list(self.consumers)
        queries = [query(f"a{i}", "IteratorAge", "FunctionName", name, "Maximum") for i, name in enumerate(names)]
        try:
            values = read(self._cloudwatch(), queries, minute(end - timedelta(seconds=LOOKBACK_S)), end)
        except Exception as exc:  # noqa: BLE001 - throttled, denied, unreachable: the run goes on, paced by capacity
            self._off(as_rerun_error(exc, "CloudWatch", "reading IteratorAge (cloudwatch:GetMetricData)"))
            return
        ages = {name: values[f"a{i}"][0] / 1000 if values[f"a{i}"] else None for i, name in enumerate(names)}
        resumed = self._update(ages)
        if resumed is not None:
            self._on_resume(resumed)

    def _update(self, ages: dict[str, float | None]) -> float | None:
        """Take the ages just read; the length of the pause that ends now, if one does."""
        limit = self.limit_s or 0.0
        with self._lock:
            if self._stopped:
                return None
            now = self._clock()
            self._account(now)
            for name, age in ages.items():
                consumer = self.consumers[name]
                if age is None and self._closed and consumer.holding:  # silent while behind: not caught up
                    continue
                consumer.age_s = age
                consumer.max_age_s = consumer.max_age_s if age is None else max(age, consumer.max_age_s or 0.0)
                consumer.holding = age is not None and age >= limit / 2
            if self._closed and not any(c.holding for c in self.consumers.values()):
                return self._open(now, "every watched consumer is below half of MAX_CONSUMER_LAG_SECONDS")
            if not self._closed and any(age is not None and age > limit for age in ages.values()):
                self._closed, self._began, self._pauses = True, now, self._pauses + 1
                worst = self._worst()
                log.warning("a consumer is behind: new writes wait", extra={"event": "consumer_lag_pause",
                            "function": worst.name, "iterator_age_s": rounded(worst.age_s),
                            "max_consumer_lag_seconds": self.limit_s})  # fmt: skip
            elif not self._closed:
                for consumer in self.consumers.values():
                    consumer.holding = False
        log.info("consumer lag", extra={"event": "consumer_lag", "paused": self._closed,
                                        "iterator_age_s": {n: rounded(a) for n, a in ages.items()}})  # fmt: skip
        return None

    def _off(self, error: RerunError) -> None:
        """A read failed: pacing is off for the rest of the run (said once), and a closed gate opens."""
        with self._lock:
            if not self.pacing or self._stopped:  # said once; and never after the summary
                return
            self.off_reason = f"reading IteratorAge failed; paced by write capacity only from then on: {error}"
            log.warning(f"consumer pacing is off: {error}",
                        extra={"event": "consumer_pacing_off", "reason": self.off_reason})  # fmt: skip
            resumed = self._open(self._clock(), "consumer pacing is off") if self._closed else None
        if resumed is not None:
            self._on_resume(resumed)

    def _open(self, now: float, why: str) -> float:
        """Open the gate (the lock is held); the length of the pause that ends."""
        self._account(now)
        self._closed = False
        for consumer in self.consumers.values():
            consumer.holding = False
        extra = {"event": "consumer_lag_resume", "paused_s": round(now - self._began, 1)}
        log.info(f"writes resume: {why}", extra={**extra, "consumer_paused_s": round(self._paused, 1)})
        return now - self._began

    def _account(self, now: float) -> None:
        """Charge the time since the last accounting to the pause and to each consumer holding it (the lock is held)."""
        if self._closed and not self._stopped:
            self._paused += now - self._mark
            for consumer in self.consumers.values():
                consumer.paused_s += (now - self._mark) if consumer.holding else 0.0
        self._mark = now

    def _worst(self) -> Consumer:
        """The consumer furthest behind among those holding the gate (among all when none holds it)."""
        holding = [c for c in self.consumers.values() if c.holding] or list(self.consumers.values())
        return max(holding, key=lambda c: c.age_s or 0.0)

    # ---- the end ----
    def summary(self, *, read_metrics: bool = True) -> dict[str, Any]:
        """The summary's fields: `consumer_pacing` (on, and why not), and `consumer_report` per watched consumer: time
        paused for it, its highest IteratorAge, its Errors and on-failure deliveries over the run's window (read now,
        unless `read_metrics` is False: an interrupted run leaves at once). Zero is 0, no data is null."""
        pacing = {"on": self.pacing, "reason": self.off_reason, "max_consumer_lag_seconds": self.limit_s,
                  "paused_s": round(self.paused_s(), 1), "pauses": self._pauses}  # fmt: skip
        fields: dict[str, Any] = {"consumer_pacing": pacing}
        if not self.consumers or self.dry_run:
            return fields
        read: dict[str, list[float]] = {}
        try:
            read = self._read_window() if read_metrics else {}
        except Exception as exc:  # noqa: BLE001 - the summary must print; the numbers are then unknown
            error = as_rerun_error(exc, "CloudWatch", "reading the consumers' metrics (cloudwatch:GetMetricData)")
            log.warning(str(error), extra={"event": "consumer_metrics_unread"})
            fields["consumer_metrics_error"] = str(error)
        if not read_metrics:
            fields["consumer_metrics_error"] = "not read: the run was interrupted"
        fields["consumer_report"] = {c.name: self._report(i, c, read) for i, c in enumerate(self.consumers.values())}
        return fields

    def _read_window(self) -> dict[str, list[float]]:
        """The run's window (from its start's minute to now), one call: IteratorAge, Errors, delivery failures per
        function, on-failure deliveries per known mapping."""
        queries: list[MetricDataQueryTypeDef] = []
        for i, name in enumerate(self.consumers):
            queries += [query(f"w{i}", "IteratorAge", "FunctionName", name, "Maximum"),
                        query(f"e{i}", "Errors", "FunctionName", name, "Sum"),
                        query(f"d{i}", "DestinationDeliveryFailures", "FunctionName", name, "Sum")]  # fmt: skip
            queries += [query(f"f{i}_{j}", "OnFailureDestinationDeliveredEventCount", "EventSourceMappingUUID", uuid,
                               "Sum") for j, uuid in enumerate(self.mappings.get(name, []))]  # fmt: skip
        start = minute(self.started)
        return read(self._cloudwatch(), queries, start, max(self._now(), start + timedelta(seconds=PERIOD_S)))

    def _report(self, i: int, consumer: Consumer, read: dict[str, list[float]]) -> dict[str, Any]:
        window = read.get(f"w{i}") or []
        ages = [a for a in (consumer.max_age_s, max(window) / 1000 if window else None) if a is not None]
        uuids = self.mappings.get(consumer.name, [])
        delivered = [value for j in range(len(uuids)) for value in read.get(f"f{i}_{j}", [])]
        return {
            "paused_s": round(consumer.paused_s, 1),
            "max_iterator_age_s": rounded(max(ages) if ages else None),
            "errors": count(read.get(f"e{i}")),
            "on_failure_deliveries": count(delivered),
            "destination_delivery_failures": count(read.get(f"d{i}")),
        }


def _off_reason(limit_s: float | None, consumers: Mapping[str, Consumer]) -> str | None:
    if limit_s is None:
        return "MAX_CONSUMER_LAG_SECONDS is not set"
    if not consumers:
        return "no Lambda consumer to watch: none found on the stream and CONSUMER_FUNCTIONS is not set"
    return None
