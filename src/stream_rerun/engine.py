"""The run: pages of keys flow through a bounded pipeline into concurrent batched touches, within a rate.

Shaped like s3transfer: a bounded executor, one small unit of work (a batch of up to 25 keys), and a context that
stops and shuts everything down in `finally`. Memory does not grow with the selection: at most two pages wait
in the prefetch queue and at most 2 x CONCURRENCY batches are in flight.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stream_rerun.aws import as_rerun_error, is_retryable
from stream_rerun.errors import RerunError
from stream_rerun.keys import Key, plain_key
from stream_rerun.touch import BATCH_SIZE, Outcome, Pending, Toucher

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 5.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often a batch's throttled or failed requests are tried again, and how long to back off between."""

    attempts: int = 8
    base_s: float = 0.05
    cap_s: float = 5.0

    def delay(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: half fixed, half random."""
        ceiling = min(self.cap_s, self.base_s * 2.0**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class Pacer:
    """Keeps a long-run rate of `rate` units/s: each reservation pushes the next start by units/rate.

    Units can be corrected after the fact (`adjust`), which is how write units reported by DynamoDB replace the
    estimate reserved before the request.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
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

    def adjust(self, units: float) -> None:
        with self._lock:
            self._next += units / self.rate


@dataclass
class Counters:
    """The run's counts; every item selected ends in exactly one of the outcome counters or `unprocessed`."""

    selected: int = 0
    touched: int = 0
    already_done: int = 0
    vanished: int = 0
    failed: int = 0
    unprocessed: int = 0
    retried_requests: int = 0
    consumed_wcu: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int | float = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class Engine:
    """Runs one selection through the touch with bounded concurrency, optional rate caps and retries."""

    def __init__(
        self,
        toucher: Toucher | None,
        concurrency: int,
        max_items_per_second: float | None = None,
        max_wcu_per_second: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.toucher = toucher  # None: dry run, count only
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.item_pacer = Pacer(max_items_per_second) if max_items_per_second else None
        self.wcu_pacer = Pacer(max_wcu_per_second) if max_wcu_per_second else None
        caps = [r for r in (max_items_per_second, max_wcu_per_second) if r]
        # A small cap gets small batches, so a 10-second window never sees a burst of a whole batch.
        self.batch_size = max(1, min(BATCH_SIZE, int(min(caps) / 10))) if caps else BATCH_SIZE
        self.counters = Counters()
        self.stop_event = threading.Event()
        self.abort_error: RerunError | None = None
        self.signal: int | None = None
        self._wcu_per_item = 1.0  # estimate until DynamoDB reports consumed capacity
        self.started = time.monotonic()

    # ---- stopping ----
    def interrupt(self, signum: int) -> None:
        """Stop taking new work (SIGTERM/SIGINT); in-flight batches finish, the rest is counted unprocessed."""
        self.signal = self.signal or signum
        self.stop_event.set()

    def abort(self, error: RerunError) -> None:
        """Stop the run because of a runtime error; the first error is the one reported."""
        if self.abort_error is None:
            self.abort_error = error
            log.error(str(error), extra={"event": "run_aborted"})
        self.stop_event.set()

    # ---- the run ----
    def run(self, pages: Iterator[list[Key]]) -> Counters:
        """Process every page; return the counters. Never raises for per-item or runtime failures."""
        self.started = time.monotonic()
        slots = threading.BoundedSemaphore(self.concurrency * 2)
        progress = threading.Thread(target=self._progress, name="progress", daemon=True)
        progress.start()
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="touch")
        try:
            for page in _prefetch(pages, self.stop_event, self.abort):
                self.counters.add("selected", len(page))
                for start in range(0, len(page), self.batch_size):
                    batch = page[start : start + self.batch_size]
                    if not self._submit(pool, slots, batch):
                        self.counters.add("unprocessed", len(batch))
        finally:
            pool.shutdown(wait=True, cancel_futures=False)
            self.stop_event.set()
            progress.join(timeout=1)
        return self.counters

    def _submit(self, pool: ThreadPoolExecutor, slots: threading.BoundedSemaphore, batch: list[Key]) -> bool:
        if self.stop_event.is_set():
            return False
        if self.toucher is None:
            return True
        while not slots.acquire(timeout=0.2):
            if self.stop_event.is_set():
                return False
        if not self._pace(len(batch)):
            slots.release()
            return False
        future = pool.submit(self._touch_batch, batch)
        future.add_done_callback(lambda _f: slots.release())
        return True

    def _pace(self, items: int) -> bool:
        """Wait for the rate caps; False when the run stopped while waiting."""
        waits = []
        if self.item_pacer:
            waits.append(self.item_pacer.reserve(items))
        if self.wcu_pacer:
            waits.append(self.wcu_pacer.reserve(items * self._wcu_per_item))
        return not self.stop_event.wait(max(waits, default=0.0))

    # ---- one unit of work ----
    def _touch_batch(self, batch: list[Key]) -> None:
        assert self.toucher is not None
        if self.stop_event.is_set():  # queued before the run stopped: not started, so not written
            self.counters.add("unprocessed", len(batch))
            return
        pending = [Pending(key) for key in batch]
        for attempt in range(self.retry.attempts):
            try:
                result = self.toucher.send(pending)
            except Exception as exc:  # noqa: BLE001 - every error is classified; none may kill the pool thread
                if not is_retryable(exc):
                    self._settle_all(pending, f"request failed: {exc}")
                    self.abort(as_rerun_error(exc, "writing"))
                    return
                throttled, again = pending, []
            else:
                self._record(result.settled, result.consumed_wcu, len(pending))
                throttled, again = result.throttled, result.again
            if throttled:
                self.counters.add("retried_requests")
                if self.stop_event.wait(self.retry.delay(attempt)):
                    self._abandon(again + throttled)
                    return
            pending = again + throttled
            if not pending:
                return
        self._settle_all(pending, f"still throttled after {self.retry.attempts} attempts")
        self.abort(
            RerunError(
                f"writes stayed throttled beyond the retry budget ({self.retry.attempts} attempts): "
                "rerun with the same RUN_ID and a lower MAX_WCU_PER_SECOND or CONCURRENCY"
            )
        )

    def _abandon(self, pending: list[Pending]) -> None:
        """The run stopped while these waited for a retry: failed when it aborted (they were refused), else
        unprocessed (a signal: the same RUN_ID picks them up)."""
        if self.abort_error is not None:
            self._settle_all(pending, f"abandoned: the run stopped ({self.abort_error})")
        else:
            self.counters.add("unprocessed", len(pending))

    def _settle_all(self, pending: list[Pending], reason: str) -> None:
        self._record([(p.key, Outcome.FAILED, reason) for p in pending], None, 0)

    def _record(self, settled: list[tuple[Key, Outcome, str]], consumed: float | None, sent: int) -> None:
        for key, outcome, detail in settled:
            self.counters.add(outcome.value)
            if outcome is Outcome.FAILED:
                log.warning("item failed", extra={"event": "item_failed", "key": plain_key(key), "reason": detail})
        if consumed is not None and sent:
            self.counters.add("consumed_wcu", consumed)
            self._wcu_per_item = max(consumed / sent, 0.5)
        if self.wcu_pacer and sent:
            estimate = sent * self._wcu_per_item
            self.wcu_pacer.adjust((consumed if consumed is not None else estimate) - estimate)

    # ---- progress ----
    def _progress(self) -> None:
        while not self.stop_event.wait(PROGRESS_INTERVAL_S):
            log.info("progress", extra={"event": "progress", **self.rates()})

    def rates(self) -> dict[str, Any]:
        """The counters plus elapsed time and throughput so far."""
        counts = self.counters.snapshot()
        elapsed = time.monotonic() - self.started
        done = counts["touched"] + counts["already_done"] + counts["vanished"] + counts["failed"]
        counts["elapsed_s"] = round(elapsed, 3)
        counts["items_per_s"] = round(done / elapsed, 1) if elapsed > 0 else 0.0
        counts["consumed_wcu"] = round(counts["consumed_wcu"], 1)
        return counts


def _prefetch(
    pages: Iterator[list[Key]], stop: threading.Event, on_error: Callable[[RerunError], None]
) -> Iterator[list[Key]]:
    """Yield pages while a thread reads the next ones (at most two ahead); stop early when `stop` is set."""
    box: queue.Queue[list[Key] | BaseException | None] = queue.Queue(maxsize=2)

    def reader() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        box.put(page, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            box.put(exc)

    thread = threading.Thread(target=reader, name="prefetch", daemon=True)
    thread.start()
    while not stop.is_set():
        try:
            item = box.get(timeout=0.2)
        except queue.Empty:
            continue
        if item is None:
            return
        if isinstance(item, BaseException):
            on_error(item if isinstance(item, RerunError) else as_rerun_error(item, "reading the selection"))
            return
        yield item
