"""ALL_ITEMS=true: every item of the table, by a parallel Scan (keys only) of this worker's share of TOTAL_SEGMENTS
segments, in shuffled order. The total is DescribeTable's item count (about six hours old), so it is approximate."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from stream_rerun.sources._base import Context, Kind, described, worker_label
from stream_rerun.sources._reads import scan_pages

if TYPE_CHECKING:
    from stream_rerun.config import Settings
    from stream_rerun.keys import Key

SEGMENT_BYTES = 2 * 1024**3  # default TOTAL_SEGMENTS: one Scan segment per 2 GiB of table


def check_settings(settings: Settings) -> None:
    """The TOTAL_SEGMENTS rules (config's model validator calls this); raises ValueError."""
    if settings.total_segments is not None and not settings.all_items:
        raise ValueError("TOTAL_SEGMENTS applies to a whole-table run: set ALL_ITEMS=true, or unset it")
    if settings.total_segments is not None and settings.total_segments < settings.worker_count:
        raise ValueError(f"TOTAL_SEGMENTS {settings.total_segments} is below WORKER_COUNT {settings.worker_count}: "
                         "every task needs a segment")  # fmt: skip


@dataclass
class WholeTableSource:
    """Worker `worker_index` of `worker_count` scans every `worker_count`-th segment from `worker_index`."""

    total_segments: int | None  # None: one per 2 GiB of table, at least one per worker
    worker_index: int
    worker_count: int
    run_id: str
    context: Context
    segments: list[int] = field(default_factory=list, repr=False)
    distinct_pages: ClassVar[bool] = True  # a Scan response page names an item once (_base.py)

    @classmethod
    def of(cls, settings: Settings, context: Context) -> WholeTableSource:
        return cls(settings.total_segments, settings.worker_index, settings.worker_count, settings.run_id, context)

    @property
    def total(self) -> int:
        """TOTAL_SEGMENTS, or one segment per 2 GiB of table (DescribeTable's size), at least one per worker."""
        default = max(self.worker_count, math.ceil(self.context.table.size_bytes / SEGMENT_BYTES), 1)
        return self.total_segments or default

    def check(self) -> None:
        """Nothing to read before the run; picks this worker's segments: every WORKER_COUNT-th from WORKER_INDEX,
        shuffled (seeded by RUN_ID, so a resumed run reads them in the same order) to spread the load over the
        table's partitions."""
        mine = list(range(self.worker_index, self.total, self.worker_count))
        random.Random(f"{self.run_id}:{self.worker_index}").shuffle(mine)
        self.segments = mine

    def pages(self) -> Iterator[list[Key]]:
        return scan_pages(self.context.client, self.context.table, self.segments, self.total, self.context.only,
                           reads=self.context.reads)  # fmt: skip

    def describe(self) -> dict[str, Any]:
        worker = worker_label(self.worker_index, self.worker_count)
        selection = {"all_items": True, "total_segments": self.total, "segments": len(self.segments), "worker": worker}
        return described(selection, round(self.context.table.item_count * len(self.segments) / self.total), True)


KIND = Kind({"ALL_ITEMS": lambda s: s.all_items}, WholeTableSource.of, check_settings)
