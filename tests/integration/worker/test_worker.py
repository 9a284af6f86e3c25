"""What reaches the stream when the worker runs, read back from DynamoDB Local's stream."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from stream_rerun_dev import emulator
from tests.support.items import item
from tests.support.streams import key_of, modifies


def load(ddb: Any, table: str, items: list[dict[str, Any]]) -> None:
    emulator.put_items(ddb, table, items)


def test_identical_put_emits_no_stream_record(ddb: Any, make_table: Any, stream: Any) -> None:
    """The seed's finding, the reason this tool exists: writing an item back unchanged fires nothing."""
    table = make_table()
    items = [item("p1", f"{n:03}", revision=1, note="x") for n in range(5)]
    load(ddb, table, items)
    before = len(stream(table))
    load(ddb, table, items)  # the very same items again
    ddb.update_item(TableName=table, Key={"pk": {"S": "p1"}, "sk": {"S": "000"}},
                    UpdateExpression="SET note = :same", ExpressionAttributeValues={":same": {"S": "x"}})  # fmt: skip
    assert before == 5
    assert len(stream(table)) == before


def test_partition_run_fires_one_modify_per_item_and_nothing_else(
    ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    # GIVEN a partition of items with and without a revision, and a neighbour partition
    table = make_table()
    selected = [item("p1", f"{n:03}", revision=n, payload="a" * n) for n in range(30)]
    selected += [item("p1", f"x{n:02}", payload="no revision") for n in range(10)]
    load(ddb, table, [*selected, *(item("p2", f"{n:03}", revision=7) for n in range(20))])
    inserts = len(stream(table))
    # WHEN the worker re-fires partition p1
    result = worker(table, HASH_KEY_VALUE="p1", RUN_ID="run-1")
    # THEN exactly one MODIFY per selected item, revision + 1 (1 when absent), the marker set, nothing else changed
    assert result.code == 0
    fired = modifies(stream(table)[inserts:])
    assert Counter(key_of(r) for r in fired) == Counter(("p1", it["sk"]["S"]) for it in selected)
    for record in fired:
        old, new = record["dynamodb"]["OldImage"], record["dynamodb"]["NewImage"]
        expected = int(old["revision"]["N"]) + 1 if "revision" in old else 1
        assert new["revision"] == {"N": str(expected)}
        assert new["rerun_id"] == {"S": "run-1"}
        assert {k: v for k, v in new.items() if k not in ("revision", "rerun_id")} == {
            k: v for k, v in old.items() if k not in ("revision", "rerun_id")
        }
    s = result.summary
    assert s["event"] == "summary" and s["run_id"] == "run-1" and s["table"] == table
    assert (s["selected"], s["touched"], s["already_done"], s["vanished"], s["failed"]) == (40, 40, 0, 0, 0)
    assert s["dry_run"] is False and s["elapsed_s"] >= 0
    assert all(line["run_id"] == "run-1" for line in result.lines)


def test_same_run_id_again_fires_nothing(ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    table = make_table()
    load(ddb, table, [item("p1", f"{n:03}") for n in range(30)])
    first = worker(table, HASH_KEY_VALUE="p1", RUN_ID="again")
    after_first = len(stream(table))
    second = worker(table, HASH_KEY_VALUE="p1", RUN_ID="again")
    assert first.summary["touched"] == 30
    assert (second.code, second.summary["touched"], second.summary["already_done"]) == (0, 0, 30)
    assert len(stream(table)) == after_first
    third = worker(table, HASH_KEY_VALUE="p1", RUN_ID="another-run")
    assert third.summary["touched"] == 30
    assert len(modifies(stream(table)[after_first:])) == 30


def test_disabled_marker_fires_again_on_rerun(ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    """Without the marker a repeated run cannot tell what it did: it fires again (the README says so)."""
    table = make_table()
    load(ddb, table, [item("p1", f"{n:03}") for n in range(5)])
    for _ in range(2):
        assert worker(table, HASH_KEY_VALUE="p1", RUN_ID="same", RERUN_MARKER_ATTRIBUTE="").summary["touched"] == 5
    fired = modifies(stream(table))
    assert len(fired) == 10
    assert all("rerun_id" not in r["dynamodb"]["NewImage"] for r in fired)


def test_selection_spanning_several_pages(ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    # GIVEN 700 items of ~2 KB in one partition: more than one 1 MB Query page
    table = make_table()
    load(ddb, table, [item("big", f"{n:05}", blob="z" * 2000) for n in range(700)])
    inserts = len(stream(table))
    pages = Counter[str]()
    client = emulator.ddb(ddb.meta.endpoint_url)
    client.meta.events.register("before-call.dynamodb.Query", lambda **_: pages.update(["query"]))
    result = worker(table, client=client, HASH_KEY_VALUE="big")
    assert pages["query"] >= 2
    assert result.summary["selected"] == result.summary["touched"] == 700
    assert Counter(key_of(r) for r in modifies(stream(table)[inserts:])) == Counter(
        ("big", f"{n:05}") for n in range(700)
    )


def test_gsi_single_date_fires_that_date_only(ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    table = make_table()
    load(ddb, table, [item(f"c{n}", "o", day=f"2024-03-0{1 + n % 3}") for n in range(30)])
    inserts = len(stream(table))
    result = worker(table, GSI_NAME="by_date", GSI_DATE="2024-03-02")
    fired = modifies(stream(table)[inserts:])
    assert result.code == 0 and result.summary["touched"] == 10
    assert sorted(key_of(r) for r in fired) == sorted((f"c{n}", "o") for n in range(30) if n % 3 == 1)


def test_gsi_date_range_is_inclusive(ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    table = make_table(date_index=("day", "N"))
    load(ddb, table, [item(f"c{n}", "o", day=20240228 + n % 5) for n in range(25)])  # 28, 29, 30, 31, 32
    load(ddb, table, [item("leap", "o", day=20240229), item("march", "o", day=20240301)])
    inserts = len(stream(table))
    result = worker(
        table, GSI_NAME="by_date", GSI_DATE_FROM="20240228", GSI_DATE_TO="20240301", GSI_DATE_FORMAT="%Y%m%d"
    )
    fired = sorted(key_of(r) for r in modifies(stream(table)[inserts:]))
    assert result.code == 0
    assert fired == sorted([(f"c{n}", "o") for n in range(25) if n % 5 in (0, 1)] + [("leap", "o"), ("march", "o")])


def test_dry_run_counts_and_writes_nothing(ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    table = make_table()
    load(ddb, table, [item("p1", f"{n:03}") for n in range(12)])
    inserts = len(stream(table))
    result = worker(table, HASH_KEY_VALUE="p1", DRY_RUN="true")
    assert result.code == 0
    assert (result.summary["dry_run"], result.summary["selected"], result.summary["touched"]) == (True, 12, 0)
    assert len(stream(table)) == inserts


def test_non_numeric_revision_fails_alone(ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    table = make_table()
    load(ddb, table, [item("p1", f"{n:03}", revision=1) for n in range(10)] + [item("p1", "bad", revision="seven")])
    inserts = len(stream(table))
    result = worker(table, HASH_KEY_VALUE="p1")
    assert result.code == 1
    assert (result.summary["touched"], result.summary["failed"]) == (10, 1)
    failed = [line for line in result.lines if line.get("event") == "item_failed"]
    assert [f["key"] for f in failed] == [{"pk": "p1", "sk": "bad"}]
    assert "not a number" in failed[0]["reason"]
    assert ("p1", "bad") not in {key_of(r) for r in stream(table)[inserts:]}
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "p1"}, "sk": {"S": "bad"}})["Item"]["revision"] == {
        "S": "seven"
    }


def test_reserved_word_and_number_keys(ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    table = make_table(keys=(("user", "S"), ("date", "N")), date_index=None)
    load(ddb, table, [{"user": {"S": "u1"}, "date": {"N": str(n)}, "status": {"S": "ok"}} for n in range(8)])
    inserts = len(stream(table))
    result = worker(table, HASH_KEY_VALUE="u1", REVISION_ATTRIBUTE="status_rev", RERUN_MARKER_ATTRIBUTE="status")
    assert result.code == 0 and result.summary["touched"] == 8
    assert all(r["dynamodb"]["NewImage"]["status"]["S"] == result.summary["run_id"] for r in stream(table)[inserts:])


def test_binary_partition_key_from_base64(ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    table = make_table(keys=(("id", "B"), ("n", "N")), date_index=None)
    load(
        ddb,
        table,
        [{"id": {"B": b"\x00\xffbin"}, "n": {"N": str(n)}} for n in range(3)] + [{"id": {"B": b"x"}, "n": {"N": "1"}}],
    )
    inserts = len(stream(table))
    result = worker(table, HASH_KEY_VALUE="AP9iaW4=")
    assert result.code == 0 and result.summary["touched"] == 3
    assert len(modifies(stream(table)[inserts:])) == 3


@pytest.mark.parametrize("marker", ["rerun_id", ""])
def test_item_deleted_after_selection_is_vanished_not_resurrected(
    ddb: Any, make_table: Any, stream: Any, worker: Any, marker: str
) -> None:
    # GIVEN items, and a writer that deletes one and updates another between the selection and the touch
    table = make_table()
    load(ddb, table, [item("p1", f"{n:03}", revision=1, v="old") for n in range(6)])
    client = emulator.ddb(ddb.meta.endpoint_url)

    def race(**_: Any) -> None:
        ddb.delete_item(TableName=table, Key={"pk": {"S": "p1"}, "sk": {"S": "002"}})
        ddb.update_item(TableName=table, Key={"pk": {"S": "p1"}, "sk": {"S": "004"}},
                        UpdateExpression="SET v = :new", ExpressionAttributeValues={":new": {"S": "new"}})  # fmt: skip

    client.meta.events.register_first("before-call.dynamodb.BatchExecuteStatement", race, unique_id="race")
    # WHEN the worker runs
    result = worker(table, client=client, HASH_KEY_VALUE="p1", RERUN_MARKER_ATTRIBUTE=marker)
    # THEN the deleted item stays deleted, the concurrent update survives, each survivor is bumped once
    assert result.code == 0
    assert (result.summary["touched"], result.summary["vanished"]) == (5, 1)
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "p1"}, "sk": {"S": "002"}})
    raced = ddb.get_item(TableName=table, Key={"pk": {"S": "p1"}, "sk": {"S": "004"}})["Item"]
    assert (raced["v"], raced["revision"]) == ({"S": "new"}, {"N": "2"})


def test_progress_lines_while_running(ddb: Any, make_table: Any, worker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stream_rerun.engine.PROGRESS_INTERVAL_S", 0.2)  # every 5 s in production
    table = make_table()
    load(ddb, table, [item("p1", f"{n:03}") for n in range(200)])
    result = worker(table, HASH_KEY_VALUE="p1", MAX_ITEMS_PER_SECOND="200")
    progress = [line for line in result.lines if line.get("event") == "progress"]
    assert len(progress) >= 3
    touched = [p["touched"] for p in progress]
    assert touched == sorted(touched) and 0 < touched[-1] <= 200
    assert progress[-1]["items_per_s"] > 0 and all(p["run_id"] == result.summary["run_id"] for p in progress)
    assert result.lines[-1]["event"] == "summary" and result.summary["touched"] == 200
