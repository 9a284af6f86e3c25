"""Narrowing a partition or a date by sort key, and any selection by attribute, read back from the stream."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stream_rerun_dev import emulator
from tests.support.items import item
from tests.support.streams import fired_by


def orders(ddb: Any, make_table: Any, **kwargs: Any) -> str:
    """Customer c1's orders o-2026-11-01..o-2026-11-30, every third FAILED, the rest OK; another customer too."""
    table = make_table(**kwargs)
    rows = [item("c1", f"o-2026-11-{d:02}", status="FAILED" if d % 3 == 0 else "OK", day=f"2026-11-{d:02}")
            for d in range(1, 31)]  # fmt: skip
    rows += [item("c2", f"o-2026-11-{d:02}", status="FAILED", day=f"2026-11-{d:02}") for d in range(1, 31)]
    emulator.put_items(ddb, table, rows)
    return table


def test_sort_key_begins_with_fires_exactly_the_prefix(ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    table = orders(ddb, make_table)
    result = worker(table, HASH_KEY_VALUE="c1", SORT_KEY_BEGINS_WITH="o-2026-11-2", RUN_ID="bw")
    assert result.code == 0 and result.summary["selected"] == 10
    assert fired_by(stream(table), "bw") == Counter(("c1", f"o-2026-11-{d}") for d in range(20, 30))


def test_sort_key_range_is_inclusive(ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    table = orders(ddb, make_table)
    result = worker(table, HASH_KEY_VALUE="c1", SORT_KEY_FROM="o-2026-11-05", SORT_KEY_TO="o-2026-11-09", RUN_ID="rg")
    assert result.code == 0
    assert fired_by(stream(table), "rg") == Counter(("c1", f"o-2026-11-{d:02}") for d in range(5, 10))


def test_a_date_index_sort_key_narrows_a_date_run(ddb: Any, stream: Any, worker: Any) -> None:
    # GIVEN an index keyed by day and sorted by a number (the hour)
    table = "t-date-hour"
    ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in
                              (("pk", "S"), ("sk", "S"), ("day", "S"), ("hour", "N"))],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        GlobalSecondaryIndexes=[{"IndexName": "by_hour", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                 "KeySchema": [{"AttributeName": "day", "KeyType": "HASH"},
                                               {"AttributeName": "hour", "KeyType": "RANGE"}]}],
    )  # fmt: skip
    emulator.put_items(ddb, table, [item(f"p{h}", "x", day="2026-11-27", hour=h) for h in range(24)])
    # WHEN the run narrows the date to hours 8..11, THEN exactly those fire
    result = worker(table, GSI_NAME="by_hour", GSI_DATE="2026-11-27", SORT_KEY_FROM="8", SORT_KEY_TO="11", RUN_ID="h")
    assert result.code == 0 and fired_by(stream(table), "h") == Counter((f"p{h}", "x") for h in range(8, 12))
    # AND begins_with on a number sort key, or a value of the wrong type, is exit 2 before any write
    before = len(stream(table))
    for env in ({"SORT_KEY_BEGINS_WITH": "1"}, {"SORT_KEY_FROM": "eight", "SORT_KEY_TO": "11"}):
        bad = worker(table, GSI_NAME="by_hour", GSI_DATE="2026-11-27", **env)
        assert bad.code == 2 and "SORT_KEY_" in bad.lines[-1]["message"]
    assert len(stream(table)) == before


def test_sort_key_on_a_table_without_one_is_exit_2(ddb: Any, make_table: Any, worker: Any) -> None:
    table = make_table(keys=(("id", "S"),), date_index=None)
    result = worker(table, HASH_KEY_VALUE="a", SORT_KEY_BEGINS_WITH="x")
    assert result.code == 2 and "has none" in result.lines[-1]["message"]


def test_the_filter_fires_only_matching_items_and_counts_the_rest(
    tmp_path: Path, ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    # GIVEN a key file naming all of c1's orders (no read-side filter: the touch's condition decides)
    table = orders(ddb, make_table)
    path = tmp_path / "keys.jsonl"
    path.write_text("".join(json.dumps({"pk": "c1", "sk": f"o-2026-11-{d:02}"}) + "\n" for d in range(1, 31)))
    result = worker(table, KEYS_FILE=str(path), FILTER_ATTRIBUTE="status", FILTER_VALUES='["FAILED","TIMEOUT"]',
                    RUN_ID="flt")  # fmt: skip
    s = result.summary
    assert result.code == 0 and (s["selected"], s["touched"], s["filtered_out"]) == (30, 10, 20)
    assert fired_by(stream(table), "flt") == Counter(("c1", f"o-2026-11-{d:02}") for d in range(3, 31, 3))


@pytest.mark.parametrize("projection", ["ALL", "KEYS_ONLY"])
def test_the_filter_on_a_date_run_is_the_touchs_condition_whatever_the_index_projects(
    projection: str, ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    table = orders(ddb, make_table, projection=projection)
    result = worker(table, GSI_NAME=emulator.DEMO_GSI, GSI_DATE="2026-11-03", FILTER_ATTRIBUTE="status",
                    FILTER_VALUES='["OK"]', RUN_ID="fd")  # fmt: skip
    s = result.summary
    assert result.code == 0 and s["touched"] == 0 and fired_by(stream(table), "fd") == Counter()
    # an index is eventually consistent: never filtered on the read, even where it projects the attribute (issue 18)
    assert (s["selected"], s["filtered_out"]) == (2, 2)


def test_an_item_changed_between_read_and_write_is_not_fired(
    ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    # GIVEN c1's FAILED orders, one of which a writer sets to OK after the read, before the first write
    table = orders(ddb, make_table)
    client = emulator.ddb(ddb.meta.endpoint_url)
    changed = {"pk": {"S": "c1"}, "sk": {"S": "o-2026-11-09"}}

    def writer_first(**_kwargs: Any) -> None:
        ddb.update_item(TableName=table, Key=changed, UpdateExpression="SET #s = :ok",
                        ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":ok": {"S": "OK"}})  # fmt: skip
        client.meta.events.unregister("before-call.dynamodb.BatchExecuteStatement", writer_first)

    client.meta.events.register("before-call.dynamodb.BatchExecuteStatement", writer_first)
    # WHEN the filtered run goes (the Query's own filter selected the item as FAILED)
    result = worker(table, client=client, HASH_KEY_VALUE="c1", FILTER_ATTRIBUTE="status",
                    FILTER_VALUES='["FAILED"]', RUN_ID="race")  # fmt: skip
    # THEN the changed item is counted filtered_out and did not fire; the other nine did
    s = result.summary
    assert result.code == 0 and (s["selected"], s["touched"], s["filtered_out"]) == (10, 9, 1)
    expected = Counter(("c1", f"o-2026-11-{d:02}") for d in range(3, 31, 3) if d != 9)
    assert fired_by(stream(table), "race") == expected
