"""Write-capacity accounting: every request reserves its estimated write units before it is sent and settles
against what DynamoDB reports (ConsumedCapacity, which counts index writes and failed conditions too).

`WriteBudget` wires the parts in pacing.py: the item cap and the WCU cap (each a Pacer), the adaptive rate that
backs off on throttling, and the meter of accepted units. It learns the units per statement from DynamoDB's reports;
until the first report (and on DynamoDB Local, which reports none) it charges the preflight estimate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import ConfigError
from stream_rerun.pacing import AdaptiveRate, Clock, Pacer, RateMeter

if TYPE_CHECKING:
    from stream_rerun.config import Settings
    from stream_rerun.table import IndexInfo, TableInfo

MIN_WCU_PER_STATEMENT = 1.0  # a write, even a failed conditional one, costs at least one unit
IN_FLIGHT_S = 0.2  # the share of a second of the rate that the requests in flight hold together (batch_size)
_LEARN = 0.3  # weight of the newest report in the running estimate


@dataclass(frozen=True)
class Reservation:
    """Units reserved for one request of `statements` statements, and how long to wait before sending it."""

    statements: int
    units: float
    wait: float
    by_resource: dict[str, float] = field(default_factory=dict)  # units reserved of each resource with its own cap
    cuts: int = 0  # the adaptive rate's cuts when it was reserved (a throttle it meets after a later cut is old news)
    turn: int = 0  # the schedule it was given its turn in (a new schedule makes it stale)


class PerResource:
    """A pacer for each resource with a cap of its own (MAX_WCU_PERCENT of the table's and of each written GSI's
    capacity), charged what DynamoDB reports for that resource (ReturnConsumedCapacity=INDEXES), else its estimate."""

    def __init__(self, caps: dict[str, float], units: dict[str, float], clock: Clock) -> None:
        self.pacers = {name: Pacer(rate, clock) for name, rate in caps.items() if rate > 0}
        self.units = {name: max(MIN_WCU_PER_STATEMENT, units.get(name, 1.0)) for name in self.pacers}

    def reserve(self, statements: int) -> tuple[dict[str, float], float]:
        reserved = {name: statements * self.units[name] for name in self.pacers}
        return reserved, max((p.reserve(reserved[name]) for name, p in self.pacers.items()), default=0.0)

    def settle(self, reserved: dict[str, float], consumed: dict[str, float] | None, written: int) -> None:
        for name, pacer in self.pacers.items():
            actual = written * self.units[name] if consumed is None else consumed.get(name, 0.0)
            if consumed is not None and written:
                self.units[name] += _LEARN * (max(MIN_WCU_PER_STATEMENT, actual / written) - self.units[name])
            pacer.settle(reserved.get(name, 0.0), actual)


class WriteBudget:
    """The write-rate budget of one run (thread-safe)."""

    def __init__(
        self,
        wcu_per_item: float,
        max_wcu_per_second: float | None = None,
        max_items_per_second: float | None = None,
        clock: Clock = time.monotonic,
        adaptive: AdaptiveRate | None = None,
        *,
        resource_caps: dict[str, float] | None = None,
        resource_units: dict[str, float] | None = None,
    ) -> None:
        self.per_statement = max(MIN_WCU_PER_STATEMENT, wcu_per_item)
        self.resources = PerResource(resource_caps or {}, resource_units or {}, clock)
        self.adaptive = adaptive or AdaptiveRate(max_wcu_per_second, clock)
        self.wcu = Pacer(self.adaptive.ceiling, clock)  # the cap: charged what DynamoDB consumed
        self.sends = Pacer(self.adaptive.rate, clock)  # the adaptive rate: charged every unit sent, throttled or not
        self.items = Pacer(max_items_per_second or math.inf, clock)
        self.meter = RateMeter(clock=clock)
        self.turn = 0  # the sends schedule's generation (_reschedule)
        self.recent = RateMeter(self.adaptive.start_interval, clock, whole=True)  # what slow start doubles

    def batch_size(self, largest: int, concurrency: int) -> int:
        """Statements per request: the `concurrency` requests in flight together hold about IN_FLIGHT_S of the rate.
        Small caps (and a low adaptive rate) get small requests, so no second sees a burst of a whole batch and when
        the first throttle comes back little is already on its way; and as long as a request takes less than
        IN_FLIGHT_S, the requests in flight carry the whole rate."""
        caps = [self.items.rate, min(self.adaptive.ceiling, self.adaptive.rate) / self.per_statement]
        if not any(math.isfinite(c) for c in caps):
            return largest
        return max(1, min(largest, int(min(caps) * IN_FLIGHT_S / concurrency)))

    def reserve(self, statements: int) -> Reservation:
        """Reserve the estimated units of a request; the caller waits `wait` seconds, then sends it."""
        self.sends.rate = self.adaptive.rate
        units = statements * self.per_statement
        by_resource, own = self.resources.reserve(statements)
        wait = max(self.wcu.reserve(units), self.sends.reserve(units), self.items.reserve(statements), own)
        return Reservation(statements, units, wait, by_resource, self.adaptive.cuts, self.turn)

    def stale(self, reservation: Reservation) -> bool:
        """The rate was cut, or doubled in slow start, while the request waited: its turn was given at the old rate."""
        return reservation.turn != self.turn

    def repace(self, reservation: Reservation) -> Reservation:
        """A stale reservation's turn again, at the new rate (the old schedule was dropped: pacing.Pacer.restart);
        its units stay reserved under the caps, which did not change."""
        self.sends.rate = self.adaptive.rate
        return replace(reservation, wait=self.sends.reserve(reservation.units), cuts=self.adaptive.cuts, turn=self.turn)

    def _reschedule(self) -> None:
        """The adaptive rate changed by a factor (a cut, a slow-start step): the requests waiting for their turn take a
        new one at the new rate instead of keeping the old schedule, which would run the old rate on for as long as
        the turns already given last."""
        self.sends.rate = self.adaptive.rate
        self.sends.restart()
        self.turn += 1

    def settle(
        self,
        reservation: Reservation,
        consumed: float | None,
        written: int,
        by_resource: dict[str, float] | None = None,
    ) -> float:
        """Charge what the request really cost: `consumed` as DynamoDB reported it, or the estimate when it reported
        nothing (DynamoDB Local; or a lost answer, which may have been applied); `by_resource` itemised per resource
        (the table, each GSI). `written` statements were not throttled (a throttled statement costs nothing). Returns
        the units charged."""
        self.resources.settle(reservation.by_resource, by_resource if consumed is not None else None, written)
        if consumed is None:
            actual = written * self.per_statement
        else:
            actual = consumed
            if written:
                seen = max(MIN_WCU_PER_STATEMENT, consumed / written)
                self.per_statement += _LEARN * (seen - self.per_statement)
        self.wcu.settle(reservation.units, actual)
        # A throttled statement consumed nothing but was sent: resends must not outrun the adaptive rate.
        self.sends.settle(reservation.units, max(actual, reservation.units))
        self.meter.add(actual)
        self.recent.add(actual)
        return actual

    def throttled(self, reservation: Reservation | None = None) -> bool:
        """DynamoDB throttled a statement or a request (sent on `reservation`): cut the rate, once per congestion
        event (pacing.AdaptiveRate.throttled); the requests still waiting for their turn then take a new one."""
        cut = self.adaptive.throttled(self._accepted(self.meter), None if reservation is None else reservation.cuts)
        if cut:
            self._reschedule()
        return cut

    def succeeded(self) -> None:
        """A request went through with no throttling: let the rate climb back (in slow start, from what was accepted
        over the last step, so that it doubles each step while DynamoDB keeps up)."""
        if not self.adaptive.slow_start:
            self.adaptive.succeeded(self._accepted(self.meter))
            return
        before = self.adaptive.rate
        self.adaptive.succeeded(self._accepted(self.recent))
        if self.adaptive.rate > before:
            self._reschedule()

    def paused(self, seconds: float) -> None:
        """Writes were held for `seconds` (the consumers' lag, consumer_lag.py): the run resumes at the rate it had."""
        self.adaptive.paused(seconds)
        self.meter.paused(seconds)

    @staticmethod
    def _accepted(meter: RateMeter) -> float:
        """What DynamoDB accepted lately, in units/s; 0 while the meter knows too little to say."""
        return meter.rate() if meter.known() else 0.0


# ---- the budget a run starts with (preflight) ----
PARTITION_WCU = 1000.0  # what one partition (of the table or of an index) serves per second


def wcu_per_item(average_bytes: float, growth_bytes: int, all_indexes: int, other_indexes: int) -> float:
    """Units one touch costs: the larger of the item's before and after sizes, 1 per started KB (at least 1), plus
    the same again for each index that projects ALL and 1 for each INCLUDE index the touch writes to."""
    base = max(1, math.ceil((average_bytes + growth_bytes) / 1024))
    return float(base * (1 + all_indexes) + other_indexes)


@dataclass(frozen=True)
class Written:
    """A resource with write capacity of its own that a touch writes: the table (with its local indexes) or a GSI."""

    name: str  # "table", or the GSI's name
    capacity: float | None  # provisioned WCU or on-demand maximum; None when it has none
    units: float  # units one touch costs this resource (estimate)

    @property
    def label(self) -> str:
        return "the table" if self.name == TABLE else f"index {self.name}"


TABLE = "table"


def derive_cap(
    max_wcu_per_second: float | None,
    percent: float | None,
    table_capacity: float | None,
    one_partition: str | None,
    resources: list[Written] | None = None,
) -> tuple[float | None, str]:
    """The run's WCU cap (in units of all resources together) and why: MAX_WCU_PER_SECOND, and/or MAX_WCU_PERCENT of
    the write capacity of the table and of each GSI the touch writes (`resources`; each charged its own units), and of
    one partition's 1,000 WCU/s when the run writes one partition (`one_partition` says which). Raises ConfigError
    when a percentage is asked of an on-demand table with no maximum."""
    cap, reason, _ = min(_caps(max_wcu_per_second, percent, table_capacity, one_partition, resources or []),
                         default=(None, "no cap: the rate adapts to throttling", None))  # fmt: skip
    return cap, reason


def _caps(
    max_wcu: float | None, percent: float | None, table_capacity: float | None, one_partition: str | None,
    resources: list[Written],
) -> list[tuple[float, str, str]]:  # fmt: skip
    """Every cap that applies: (units/s of all resources together, why, which resource binds)."""
    caps: list[tuple[float, str, str]] = []
    if max_wcu:
        caps.append((max_wcu, f"MAX_WCU_PER_SECOND={max_wcu:g}", "MAX_WCU_PER_SECOND"))
    if percent is None:
        return caps
    if table_capacity is None:
        raise ConfigError(
            f"MAX_WCU_PERCENT={percent:g} needs the table's write capacity, but the table is on demand with no "
            "maximum: set MAX_WCU_PER_SECOND instead, or give the table an on-demand maximum "
            "(OnDemandThroughput.MaxWriteRequestUnits)"
        )
    total = sum(r.units for r in resources) or 1.0
    table = next((r for r in resources if r.name == TABLE), Written(TABLE, table_capacity, total))
    for r in [table, *(r for r in resources if r.name != TABLE)]:
        if r.capacity is not None and r.units > 0:  # a share of its own capacity, scaled to the units of all
            reason = f"{percent:g}% of {r.label}'s {r.capacity:g} WCU/s"
            caps.append((r.capacity * percent / 100 * total / r.units, reason, r.label))
    if one_partition:
        reason = f"{percent:g}% of one partition's 1000 WCU/s ({one_partition})"
        caps.append((PARTITION_WCU * percent / 100, reason, "one partition"))
    return caps


@dataclass(frozen=True)
class RunBudget:
    """The write budget preflight derives: the cap and why, the indexes a touch writes, units per item, and each
    resource's own cap (MAX_WCU_PERCENT of its capacity), charged per resource during the run."""

    wcu_cap: float | None
    cap_reason: str
    indexes_written: list[str]
    wcu_per_item: float
    average_item_bytes: float
    cap_resource: str | None = None  # the resource whose capacity binds the cap
    resource_caps: dict[str, float] = field(default_factory=dict)  # resource -> its own cap, units/s
    resource_units: dict[str, float] = field(default_factory=dict)  # resource -> units a touch costs it

    @classmethod
    def of(cls, settings: Settings, table: TableInfo) -> RunBudget:
        """Raises ConfigError (MAX_WCU_PERCENT of an on-demand table with no maximum)."""
        written = table.indexes_written(settings.revision_attribute, settings.marker)
        growth = len(settings.revision_attribute) + 21 + (len(settings.marker or "") + len(settings.run_id))
        per_item = wcu_per_item(table.average_item_bytes, growth, sum(i.projection == "ALL" for i in written),
                                sum(i.projection != "ALL" for i in written))  # fmt: skip
        resources = _resources(table, written, wcu_per_item(table.average_item_bytes, growth, 0, 0))
        caps = _caps(settings.max_wcu_per_second, settings.max_wcu_percent, table.write_capacity,
                     _one_partition(settings, [i.name for i in written]), resources)  # fmt: skip
        cap, reason, binding = min(caps, default=(None, "no cap: the rate adapts to throttling", None))
        own: dict[str, float] = {}
        if settings.max_wcu_percent is not None:
            own = {r.name: r.capacity * settings.max_wcu_percent / 100 for r in resources if r.capacity is not None}
        units = {r.name: r.units for r in resources}
        return cls(cap, reason, [i.name for i in written], per_item, table.average_item_bytes, binding, own, units)

    def describe(self) -> dict[str, Any]:
        return {"wcu_cap": self.wcu_cap, "wcu_cap_reason": self.cap_reason, "wcu_cap_resource": self.cap_resource,
                "indexes_written": self.indexes_written, "estimated_wcu_per_item": self.wcu_per_item}  # fmt: skip

    def estimate(self, selected: int, max_items_per_second: float | None) -> dict[str, Any]:
        """A dry run's forecast: write units (DescribeTable's average item, which AWS refreshes about every six
        hours, plus the indexes the touch writes) and the time at the caps (None when uncapped)."""
        rates = [max_items_per_second or math.inf]
        if self.wcu_cap:
            rates.append(self.wcu_cap / self.wcu_per_item)
        rate = min(rates)
        return {
            "average_item_bytes": round(self.average_item_bytes),
            "indexes_written": self.indexes_written,
            "estimated_wcu": round(selected * self.wcu_per_item),
            "estimated_seconds": round(selected / rate, 1) if math.isfinite(rate) else None,
        }


def _resources(table: TableInfo, written: list[IndexInfo], base: float) -> list[Written]:
    """The table (its own units and its written local indexes', which it pays for) and each written GSI."""

    def cost(index: IndexInfo) -> float:
        return base if index.projection == "ALL" else 1.0

    table_units = base + sum(cost(i) for i in written if i.local)
    gsis = [Written(i.name, i.write_capacity, cost(i)) for i in written if not i.local]
    return [Written(TABLE, table.write_capacity, table_units), *gsis]


def _one_partition(settings: Settings, indexes_written: list[str]) -> str | None:
    """Which single partition the run writes, when it writes one: the HASH_KEY_VALUE partition, or one index
    partition per date when the date index is written by the touch."""
    if settings.hash_key_value is not None:
        return "HASH_KEY_VALUE writes one partition"
    if (settings.gsi_date or settings.gsi_date_from) and settings.gsi_name in indexes_written:
        return f"index {settings.gsi_name} projects the touched attributes: one index partition per date"
    return None
