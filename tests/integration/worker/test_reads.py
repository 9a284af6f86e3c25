"""The selection's reads on the capacity model (tests/support/capacity.py) in front of DynamoDB Local: a read still
throttled after botocore's own attempts is ridden out, and MAX_RCU_PER_SECOND holds, empty filtered pages
included. What fired is read from the stream."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from stream_rerun.sources import _reads
from stream_rerun_dev import emulator
from tests.support.capacity import CapacityProxy
from tests.support.items import item
from tests.support.streams import fired_by


def test_a_read_throttled_beyond_botocores_attempts_is_ridden_out(
    endpoint: str, ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    # GIVEN a partition of 30 items, and a table whose reads are throttled 5 times in a row (botocore tries twice)
    table = make_table()
    emulator.put_items(ddb, table, [item("p1", f"{i:03}", revision=1) for i in range(30)])
    with CapacityProxy(endpoint) as proxy:
        proxy.throttle_reads(5)
        result = worker(table, at=proxy.endpoint, HASH_KEY_VALUE="p1", RUN_ID="rt", AWS_MAX_ATTEMPTS="2")
    # THEN the run waited the throttling out and touched every item once
    assert proxy.read_throttled == 5
    assert result.code == 0, result.summary
    assert result.summary["touched"] == 30
    assert fired_by(stream(table), "rt") == Counter(("p1", f"{i:03}") for i in range(30))


CAP = 20.0


def test_the_read_budget_holds_and_empty_filtered_pages_count(
    endpoint: str, ddb: Any, make_table: Any, stream: Any, worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN 200 items of ~1 KB in one partition, 4 of which the filter selects, read 20 keys a page (~5 read units
    # each, nearly all pages emptied by the filter), and a read budget of 20 units/s
    monkeypatch.setattr(_reads, "PAGE_SIZE", 20)
    table = make_table()
    hits = {7, 77, 123, 199}
    emulator.put_items(ddb, table, [item("p1", f"{i:03}", revision=1, status="hit" if i in hits else "miss",
                                         blob="x" * 1000) for i in range(200)])  # fmt: skip
    with CapacityProxy(endpoint) as proxy:
        result = worker(table, at=proxy.endpoint, HASH_KEY_VALUE="p1", RUN_ID="rb", MAX_RCU_PER_SECOND=str(CAP),
                        FILTER_ATTRIBUTE="status", FILTER_VALUES='["hit"]', MAX_STALL_SECONDS="30")  # fmt: skip
        units, seconds = proxy.read_rate()
    # THEN every page was read (and charged), and the read rate never went above the budget: a slow machine can only
    # make it slower
    print(f"\nREAD CAP {CAP:g} RCU/s: {units / seconds:.1f}/s over {len(proxy.reads)} pages")
    assert result.code == 0 and result.summary["touched"] == 4
    assert len(proxy.reads) >= 10 and units >= 25
    assert all(request.get("ConsistentRead") is True for _, _, request in proxy.reads)  # a read of the table
    assert units / seconds <= CAP * 1.05
    assert fired_by(stream(table), "rb") == Counter(("p1", f"{i:03}") for i in hits)
