"""The run: pages of keys flow through a bounded pipeline into concurrent batched touches, within a rate.

CONCURRENCY threads each take the next batch (of up to 25 keys) from a shared feed and touch it; the run stops and
shuts everything down in `finally`. Memory does not grow with the selection: at most two pages wait in the
prefetch queue besides the one in hand, and at most CONCURRENCY batches are in flight.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from stream_rerun.capacity import Reservation, WriteBudget
from stream_rerun.counters import Counters, Gate, OpenGate
from stream_rerun.errors import (
    RerunError,
    RunAbortedError,
    as_rerun_error,
    error_code,
    error_message,
    is_key_range_throttle,
    is_lost_answer,
    is_retryable,
    statement_refused,
)
from stream_rerun.keys import Key, plain_key
from stream_rerun.metrics import Emf
from stream_rerun.prefetch import Feed, Prefetch
from stream_rerun.retry import HotPartitions, RetryPolicy, StallWatch
from stream_rerun.touch import BATCH_SIZE, Outcome, Pending, Toucher

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 5.0
GATE_CHECK_S = 0.2  # how often a request held at a closed gate looks again


class Engine:
    """Runs one selection through the touch with bounded concurrency, within a write budget, riding out throttling.

    `Engine` only wires the parts: the budget (capacity.py) paces every send, the policy (retry.py) spaces resends
    and says when the run has stalled, the counters count.
    """

    def __init__(
        self,
        toucher: Toucher | None,
        concurrency: int,
        budget: WriteBudget | None = None,
        retry: RetryPolicy | None = None,
        emf: Emf | None = None,
        *,
        unsettled: Callable[[list[Key]], None] | None = None,
        settled: Callable[[list[tuple[Key, str]]], None] | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.toucher = toucher  # None: dry run, count only
        self.concurrency = concurrency
        self.budget = budget or WriteBudget(1.0)
        self.retry = retry or RetryPolicy()
        self.emf = emf or Emf("", "", "")
        self.gate: Gate = gate or OpenGate()  # the consumers' lag: no new request while it is closed
        self.stall = StallWatch(self.retry.stall_s, paused=self.gate.paused_s)  # a pause is not a stall
        self.hot = HotPartitions(self.retry)
        self.counters = Counters()
        self.stop_event = threading.Event()
        self.abort_error: RerunError | None = None
        self.signal: int | None = None
        self.started = time.monotonic()
        # receives every key that ends failed or unprocessed (FAILED_KEYS_OUT)
        self.unsettled: Callable[[list[Key]], None] = unsettled or (lambda _keys: None)
        # receives every key that ends, with its outcome (a source that acts on it: FAILED_BATCHES_FROM's queue)
        self.settled: Callable[[list[tuple[Key, str]]], None] = settled or (lambda _outcomes: None)
        self.read_to_end = False  # the selection was read to its end (else the re-drive file cannot cover it)

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
    def run(self, pages: Iterator[list[Key]], *, distinct: bool = False) -> Counters:
        """Process every page; return the counters. Never raises for per-item or runtime failures. `distinct`: no
        page names an item twice (a source's `distinct_pages`), so none is searched for repeats."""
        self.started = time.monotonic()
        self.stall.progress()
        progress = threading.Thread(target=self._progress, name="progress", daemon=True)
        progress.start()
        prefetch = Prefetch(pages, self.stop_event, self.abort)
        repeated = None if self.toucher is None or distinct else self._repeated
        size = lambda: self.budget.batch_size(BATCH_SIZE, self.concurrency)  # noqa: E731 - asked for each batch
        feed = Feed(iter(prefetch), size, self._selected, self.stop_event, repeated)
        try:
            if self.toucher is None:  # a dry run counts
                while feed.next() is not None:
                    pass
            else:
                workers = [threading.Thread(target=self._work, args=(feed,), name=f"touch-{n}", daemon=True)
                           for n in range(self.concurrency)]  # fmt: skip
                for worker in workers:
                    worker.start()
                # Bounded on a stop: every wait in a batch watches the stop event, and a call in flight is one attempt
                # of at most the client's connect + read timeouts (aws.py), well inside ECS's stopTimeout.
                for worker in workers:
                    worker.join()
        finally:
            self.stop_event.set()
            progress.join(timeout=1)
        self._unprocessed(feed.rest())  # the page in hand when the run stopped: selected, never started
        for page in prefetch.leftovers():  # read before the stop but never started: selected, and re-drivable
            self._selected(len(page))
            self._unprocessed(page)
        self.read_to_end = prefetch.exhausted
        return self.counters

    def _work(self, feed: Feed) -> None:
        """One of CONCURRENCY threads: takes the next batch itself (no hand-off through another thread per request)."""
        while (batch := feed.next()) is not None:
            try:
                self._touch_batch(batch)
            except Exception as exc:  # noqa: BLE001 - a bug must end the run with its message, not lose a thread
                self._unprocessed(batch)
                self.abort(RerunError(f"unexpected {type(exc).__name__}: {exc}"))

    # ---- one unit of work ----
    def _touch_batch(self, batch: list[Key]) -> None:
        """Send a batch until every item is settled: throttled and unanswered statements are resent after a
        backoff, at the budget's (adaptive) rate, until the run stops or stalls. A request DynamoDB refuses as a whole
        (ValidationException) is split in two until the one statement it refuses is alone."""
        groups = [[Pending(key) for key in batch]]  # no key twice: the feed took the repeats out of the page
        attempt, sent = 0, False
        while groups:
            pending = groups.pop()
            if self.gate.closed() and self._held():  # stopped while held: never sent again, so unprocessed
                self._abandon([p for group in (pending, *groups) for p in group], sent=False)
                return
            if self.stall.stalled():  # (the time held at the gate is not counted)
                self._stalled()
            if self.hot.any() and self.stop_event.wait(self.hot.wait(self._partitions(pending))):  # hot items wait
                self._abandon([p for group in (pending, *groups) for p in group], sent)
                return
            reservation = self.budget.reserve(len(pending))
            while True:
                if self.stop_event.wait(reservation.wait):
                    self.budget.settle(reservation, 0.0, 0)
                    self._abandon([p for group in (pending, *groups) for p in group], sent)
                    return
                if not self.budget.stale(reservation):
                    break
                reservation = self.budget.repace(reservation)  # the rate changed while it waited: a new turn
            if self.gate.closed():  # it closed while this request waited for its turn: the units go back, it waits
                self.budget.settle(reservation, 0.0, 0)
                groups.append(pending)
                continue
            following, troubled = self._send(pending, reservation)
            groups.extend(group for group in following if group)
            sent = True
            if not troubled:
                attempt = 0
                continue
            self.counters.add("retried_requests")
            if self.stop_event.wait(self.retry.delay(attempt)):
                self._abandon([p for group in groups for p in group], sent)
                return
            attempt += 1

    def _send(self, pending: list[Pending], reservation: Reservation) -> tuple[list[list[Pending]], bool]:
        """One request; returns the groups of items still to send and whether it met throttling or a lost answer."""
        assert self.toucher is not None
        try:
            result = self.toucher.send(pending)
        except Exception as exc:  # noqa: BLE001 - every error is classified; none may kill the pool thread
            return self._request_failed(exc, pending, reservation)
        charged = self.budget.settle(reservation, result.consumed_wcu, result.written, result.consumed_by)
        self.counters.add("consumed_wcu", charged)
        self._record(result.settled)
        if result.fatal:
            self.abort(statement_refused(*result.fatal, self.toucher.table_name))
        if result.throttled:
            self.counters.add("throttled_statements", len(result.throttled))
            self.budget.throttled(reservation)
        else:
            self.budget.succeeded()
            if self.hot.any():
                self.hot.cooled(self._partitions(pending))
        return [result.again + result.throttled], bool(result.throttled)

    def _request_failed(
        self, exc: Exception, pending: list[Pending], reservation: Reservation
    ) -> tuple[list[list[Pending]], bool]:
        """A request-level error: throttling and lost answers are resent (a lost answer only with a marker), a
        refused request is split to find the statement it refuses; anything else aborts the run."""
        assert self.toucher is not None
        if error_code(exc) == "ValidationException":  # nothing was applied: the halves are sent on their own
            self.budget.settle(reservation, 0.0, 0)
            if len(pending) > 1:
                return [pending[: len(pending) // 2], pending[len(pending) // 2 :]], False
            self._settle_all(pending, f"DynamoDB refused the statement (ValidationException): {error_message(exc)}")
            return [], False
        if not is_retryable(exc):
            self.budget.settle(reservation, 0.0, 0)
            self._settle_all(pending, f"request failed: {exc}")
            self.abort(as_rerun_error(exc, "DynamoDB", "writing"))
            return [], False
        if is_lost_answer(exc):  # it may have been applied: charge it, and resend if the marker makes that safe
            self.counters.add("lost_answers")
            self.counters.add("consumed_wcu", self.budget.settle(reservation, None, len(pending)))
            if self.toucher.marker is None:
                self._not_resent(pending, exc)
                return [], False
            return [[replace(p, maybe_written=True) for p in pending]], True
        self.counters.add("throttled_statements", len(pending))  # a throttled request costs nothing
        self.budget.settle(reservation, 0.0, 0)
        if is_key_range_throttle(exc):  # one hot partition: its items back off, the run keeps its rate
            self.counters.add("key_range_throttles")
            self.counters.add("retried_requests")
            self.hot.throttled(self._partitions(pending))
            return [pending], False
        self.budget.throttled(reservation)
        return [pending], True

    def _partitions(self, pending: list[Pending]) -> set[tuple[str, Any]]:
        """The partition key values of the items (one partition each)."""
        assert self.toucher is not None
        name = self.toucher.key_names[0]
        return {next(iter(p.key[name].items())) for p in pending}

    def _held(self) -> bool:
        """Wait while the gate is closed (requests in flight finish meanwhile); True when the run stopped. A pause
        that reaches MAX_CONSUMER_PAUSE_SECONDS in all aborts the run."""
        while self.gate.closed():
            error = self.gate.exhausted()
            if error is not None:
                self.abort(error)
            if self.stop_event.wait(GATE_CHECK_S):
                return True
        return self.stop_event.is_set()

    def _not_resent(self, pending: list[Pending], exc: Exception) -> None:
        """A lost answer without a marker: the request may have been applied, and a resend would then fire twice."""
        reason = (
            f"the answer was lost ({type(exc).__name__}) and RERUN_MARKER_ATTRIBUTE is empty, so a resend could fire "
            "these items twice: they are unprocessed; check the stream, or rerun them with a marker"
        )
        keys = [p.key for p in pending]
        log.warning("answer lost: not resent", extra={"event": "answer_lost", "items": len(keys), "reason": reason,
                                                      "keys": [plain_key(k) for k in keys]})  # fmt: skip
        self._unprocessed(keys)

    def _stalled(self) -> None:
        self.abort(
            RunAbortedError(
                f"no write succeeded for {self.stall.stalled_for():.0f} s (MAX_STALL_SECONDS={self.retry.stall_s:g}): "
                "DynamoDB kept throttling or could not be reached; rerun with the same RUN_ID (nothing fires twice), "
                "with a lower MAX_WCU_PER_SECOND or after the outage"
            )
        )

    def _abandon(self, pending: list[Pending], sent: bool) -> None:
        """The run stopped while these waited. When it aborted, items DynamoDB refused are failed; items never sent,
        or whose last answer was lost (they may have been written), are unprocessed: the same RUN_ID settles them."""
        aborted = self.abort_error is not None
        refused = [p for p in pending if aborted and sent and not p.maybe_written]
        self._settle_all(refused, f"not written: the run stopped ({self.abort_error})")
        self._unprocessed([p.key for p in pending if not (aborted and sent and not p.maybe_written)])

    def _selected(self, count: int) -> None:
        self.counters.add("selected", count)

    def _repeated(self, keys: list[Key]) -> None:
        """Keys a page names again: already done by construction (the first occurrence is touched, once)."""
        self._record([(key, Outcome.ALREADY_DONE, "") for key in keys])

    def _unprocessed(self, keys: list[Key]) -> None:
        if keys:
            self.counters.add("unprocessed", len(keys))
            self.unsettled(keys)

    def _settle_all(self, pending: list[Pending], reason: str) -> None:
        self._record([(p.key, Outcome.FAILED, reason) for p in pending])

    def _record(self, settled: list[tuple[Key, Outcome, str]]) -> None:
        if not settled:
            return
        self.stall.progress()
        counts: dict[str, int | float] = {}
        failed: list[Key] = []
        for key, outcome, detail in settled:
            counts[outcome.value] = counts.get(outcome.value, 0) + 1
            if outcome is Outcome.FAILED:
                failed.append(key)
                log.warning("item failed", extra={"event": "item_failed", "key": plain_key(key), "reason": detail})
        self.counters.add_many(counts)
        if failed:
            self.unsettled(failed)
        self.settled([(key, outcome.value) for key, outcome, _ in settled])

    # ---- progress ----
    def _progress(self) -> None:
        while not self.stop_event.wait(PROGRESS_INTERVAL_S):
            rates = self.rates()
            paused = self.gate.progress_fields()  # paused_for, the consumer and its age while the gate is closed
            log.info("progress", extra={"event": "progress", **rates, **paused, **self.emf.fields(rates)})

    def rates(self) -> dict[str, Any]:
        """The counters plus elapsed time and throughput so far."""
        counts = self.counters.snapshot()
        elapsed = time.monotonic() - self.started
        done = sum(counts[outcome.value] for outcome in Outcome)
        counts["elapsed_s"] = round(elapsed, 3)
        counts["items_per_s"] = round(done / elapsed, 1) if elapsed > 0 else 0.0
        counts["wcu_per_s"] = round(counts["consumed_wcu"] / elapsed, 1) if elapsed > 0 else 0.0
        counts["consumed_wcu"] = round(counts["consumed_wcu"], 1)
        return counts
