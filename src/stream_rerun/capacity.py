"""Write-capacity accounting: every request reserves its estimated write units before it is sent and settles
against what DynamoDB reports (ConsumedCapacity, which counts index writes and failed conditions too).

`WriteBudget` wires the parts in pacing.py: the item cap and the WCU cap (each a Pacer), the adaptive rate that
backs off on throttling, and the meter of accepted units. It learns the units per statement from DynamoDB's reports;
until the first report (and on DynamoDB Local, which reports none) it charges the preflight estimate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import ConfigError
from stream_rerun.pacing import AdaptiveRate, Clock, Pacer, RateMeter

if TYPE_CHECKING:
    from stream_rerun.config import Settings
    from stream_rerun.table import TableInfo

MIN_WCU_PER_STATEMENT = 1.0  # a write, even a failed conditional one, costs at least one unit
_LEARN = 0.3  # weight of the newest report in the running estimate


@dataclass(frozen=True)
class Reservation:
    """Units reserved for one request of `statements` statements, and how long to wait before sending it."""

    statements: int
    units: float
    wait: float


class WriteBudget:
    """The write-rate budget of one run (thread-safe)."""

    def __init__(
        self,
        wcu_per_item: float,
        max_wcu_per_second: float | None = None,
        max_items_per_second: float | None = None,
        clock: Clock = time.monotonic,
        adaptive: AdaptiveRate | None = None,
    ) -> None:
        self.per_statement = max(MIN_WCU_PER_STATEMENT, wcu_per_item)
        self.adaptive = adaptive or AdaptiveRate(max_wcu_per_second, clock)
        self.wcu = Pacer(self.adaptive.ceiling, clock)  # the cap: charged what DynamoDB consumed
        self.sends = Pacer(self.adaptive.rate, clock)  # the adaptive rate: charged every unit sent, throttled or not
        self.items = Pacer(max_items_per_second or math.inf, clock)
        self.meter = RateMeter(clock=clock)

    def batch_size(self, largest: int) -> int:
        """Statements per request: small caps (and a low adaptive rate) get small requests, so no second sees a
        burst of a whole batch and a throttled request says so early."""
        caps = [self.items.rate, min(self.adaptive.ceiling, self.adaptive.rate) / self.per_statement]
        return max(1, min(largest, int(min(caps) / 10))) if any(math.isfinite(c) for c in caps) else largest

    def reserve(self, statements: int) -> Reservation:
        """Reserve the estimated units of a request; the caller waits `wait` seconds, then sends it."""
        self.sends.rate = self.adaptive.rate
        units = statements * self.per_statement
        wait = max(self.wcu.reserve(units), self.sends.reserve(units), self.items.reserve(statements))
        return Reservation(statements, units, wait)

    def settle(self, reservation: Reservation, consumed: float | None, written: int) -> float:
        """Charge what the request really cost: `consumed` as DynamoDB reported it, or the estimate when it reported
        nothing (DynamoDB Local; or a lost answer, which may have been applied). `written` statements were not
        throttled (a throttled statement costs nothing). Returns the units charged."""
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
        return actual

    def throttled(self) -> bool:
        """DynamoDB throttled a statement or a request: cut the rate (at most once per cooldown)."""
        return self.adaptive.throttled(self._accepted())

    def succeeded(self) -> None:
        """A request went through with no throttling: let the rate climb back."""
        self.adaptive.succeeded(self._accepted())

    def _accepted(self) -> float:
        """What DynamoDB accepted lately, in units/s; 0 while the meter knows too little to say."""
        return self.meter.rate() if self.meter.known() else 0.0


# ---- the budget a run starts with (preflight) ----
PARTITION_WCU = 1000.0  # what one partition (of the table or of an index) serves per second


def wcu_per_item(average_bytes: float, growth_bytes: int, all_indexes: int, other_indexes: int) -> float:
    """Units one touch costs: the larger of the item's before and after sizes, 1 per started KB (at least 1), plus
    the same again for each index that projects ALL and 1 for each INCLUDE index the touch writes to."""
    base = max(1, math.ceil((average_bytes + growth_bytes) / 1024))
    return float(base * (1 + all_indexes) + other_indexes)


def derive_cap(
    max_wcu_per_second: float | None,
    percent: float | None,
    table_capacity: float | None,
    one_partition: str | None,
) -> tuple[float | None, str]:
    """The run's WCU cap and why: MAX_WCU_PER_SECOND, and/or MAX_WCU_PERCENT of the table's write capacity (and of
    one partition's 1,000 WCU/s when the run writes one partition: `one_partition` says which). Raises ConfigError
    when a percentage is asked of an on-demand table with no maximum."""
    caps: list[tuple[float, str]] = []
    if max_wcu_per_second:
        caps.append((max_wcu_per_second, f"MAX_WCU_PER_SECOND={max_wcu_per_second:g}"))
    if percent is not None:
        if table_capacity is None:
            raise ConfigError(
                f"MAX_WCU_PERCENT={percent:g} needs the table's write capacity, but the table is on demand with no "
                "maximum: set MAX_WCU_PER_SECOND instead, or give the table an on-demand maximum "
                "(OnDemandThroughput.MaxWriteRequestUnits)"
            )
        caps.append((table_capacity * percent / 100, f"{percent:g}% of the table's {table_capacity:g} WCU/s"))
        if one_partition:
            caps.append(
                (PARTITION_WCU * percent / 100, f"{percent:g}% of one partition's 1000 WCU/s ({one_partition})")
            )
    if not caps:
        return None, "no cap: the rate adapts to throttling"
    cap, reason = min(caps)
    return cap, reason


@dataclass(frozen=True)
class RunBudget:
    """The write budget preflight derives: the cap and why, the indexes a touch writes, units per item."""

    wcu_cap: float | None
    cap_reason: str
    indexes_written: list[str]
    wcu_per_item: float
    average_item_bytes: float

    @classmethod
    def of(cls, settings: Settings, table: TableInfo) -> RunBudget:
        """Raises ConfigError (MAX_WCU_PERCENT of an on-demand table with no maximum)."""
        written = table.indexes_written(settings.revision_attribute, settings.marker)
        growth = len(settings.revision_attribute) + 21 + (len(settings.marker or "") + len(settings.run_id))
        per_item = wcu_per_item(table.average_item_bytes, growth, sum(i.projection == "ALL" for i in written),
                                sum(i.projection != "ALL" for i in written))  # fmt: skip
        cap, reason = derive_cap(settings.max_wcu_per_second, settings.max_wcu_percent, table.write_capacity,
                                 _one_partition(settings, [i.name for i in written]))  # fmt: skip
        return cls(cap, reason, [i.name for i in written], per_item, table.average_item_bytes)

    def describe(self) -> dict[str, Any]:
        return {"wcu_cap": self.wcu_cap, "wcu_cap_reason": self.cap_reason, "indexes_written": self.indexes_written,
                "estimated_wcu_per_item": self.wcu_per_item}  # fmt: skip

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


def _one_partition(settings: Settings, indexes_written: list[str]) -> str | None:
    """Which single partition the run writes, when it writes one: the HASH_KEY_VALUE partition, or one index
    partition per date when the date index is written by the touch."""
    if settings.hash_key_value is not None:
        return "HASH_KEY_VALUE writes one partition"
    if (settings.gsi_date or settings.gsi_date_from) and settings.gsi_name in indexes_written:
        return f"index {settings.gsi_name} projects the touched attributes: one index partition per date"
    return None
