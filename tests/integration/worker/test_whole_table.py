"""Whole-table runs (parallel Scan shared by several workers) and key lists, read back from the stream."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from stream_rerun.version import revision, version
from stream_rerun_dev import emulator
from tests.support.items import item
from tests.support.streams import fired_by, key_of, modifies


def test_four_workers_over_sixteen_segments_touch_every_item_once(
    ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    # GIVEN 1200 items over 40 partitions
    table = make_table()
    keys = [(f"p{n % 40}", f"{n:05}") for n in range(1200)]
    emulator.put_items(ddb, table, [item(pk, sk) for pk, sk in keys])
    # WHEN four workers share the run, each with its own WORKER_INDEX
    results = [
        worker(table, ALL_ITEMS="true", TOTAL_SEGMENTS="16", WORKER_INDEX=str(i), WORKER_COUNT="4", RUN_ID="fleet")
        for i in range(4)
    ]
    # THEN every item fired exactly once, and each worker scanned its own four segments
    assert [r.code for r in results] == [0, 0, 0, 0]
    assert fired_by(stream(table), "fleet") == Counter(keys)
    assert sum(r.summary["touched"] for r in results) == 1200
    assert all(r.summary["already_done"] == 0 and r.summary["touched"] > 0 for r in results)
    started = [next(line for line in r.lines if line.get("event") == "run_started") for r in results]
    assert [s["selection"]["segments"] for s in started] == [4, 4, 4, 4]
    assert [s["selection"]["worker"] for s in started] == ["1 of 4", "2 of 4", "3 of 4", "4 of 4"]
    # and says which build ran: the package's version and the commit in it (the same for every worker)
    assert {(s["version"], s["revision"]) for s in started} == {(version(), revision())}


def test_whole_table_needs_the_explicit_opt_in(make_table: Any, worker: Any) -> None:
    result = worker(make_table(), ALL_ITEMS="false")
    assert result.code == 2 and "ALL_ITEMS=true" in result.lines[0]["message"]


def test_dry_run_of_a_whole_table_estimates_units_and_time(ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    table = make_table()
    emulator.put_items(ddb, table, [item("p", f"{n:04}", blob="x" * 1500) for n in range(300)])  # ~1.5 KB items
    before = len(stream(table))
    s = worker(table, ALL_ITEMS="true", DRY_RUN="true", MAX_ITEMS_PER_SECOND="50").summary
    assert (s["selected"], s["touched"]) == (300, 0)
    assert s["average_item_bytes"] > 1024 and s["estimated_wcu"] == 600  # two write units per ~1.5 KB item
    assert s["estimated_seconds"] == 6.0
    assert len(stream(table)) == before


def write_lines(path: Path, lines: list[Any]) -> str:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return str(path)


def test_key_file_with_string_number_and_composite_keys(
    tmp_path: Path, ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    table = make_table(keys=(("pk", "S"), ("n", "N")), date_index=None)
    emulator.put_items(ddb, table, [{"pk": {"S": f"c{i}"}, "n": {"N": str(i)}, "v": {"S": "x"}} for i in range(10)])
    inserts = len(stream(table))
    path = write_lines(tmp_path / "keys.jsonl", [
        {"pk": {"S": "c1"}, "n": {"N": "1"}},                 # DynamoDB JSON
        {"pk": "c2", "n": 2},                                 # plain values
        {"pk": "c3", "n": "3"},                               # a number given as a string
        {"Keys": {"pk": {"S": "c4"}, "n": {"N": "4"}}},       # as in a stream record
        {"pk": "c5", "n": 5, "v": "other attributes are ignored"},
        "",
        {"pk": "gone", "n": 99},                              # not in the table: vanished, not created
    ])  # fmt: skip
    result = worker(table, KEYS_FILE=path, RUN_ID="from-file")
    assert result.code == 0
    assert (result.summary["touched"], result.summary["vanished"]) == (5, 1)
    assert sorted(key_of(r) for r in modifies(stream(table)[inserts:])) == [
        (str(i), f"c{i}") for i in range(1, 6)
    ]  # key_of sorts names: n, pk
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "gone"}, "n": {"N": "99"}})


def test_key_file_shared_by_two_workers(tmp_path: Path, ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    table = make_table()
    emulator.put_items(ddb, table, [item("p", f"{n:03}") for n in range(50)])
    path = write_lines(tmp_path / "keys.jsonl", [{"pk": "p", "sk": f"{n:03}"} for n in range(50)])
    results = [worker(table, KEYS_FILE=path, WORKER_INDEX=str(i), WORKER_COUNT="2", RUN_ID="kf2") for i in range(2)]
    assert [r.summary["touched"] for r in results] == [25, 25]
    assert fired_by(stream(table), "kf2") == Counter(("p", f"{n:03}") for n in range(50))


def test_malformed_key_file_names_its_lines_and_writes_nothing(
    tmp_path: Path, ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    table = make_table(keys=(("pk", "S"), ("n", "N")), date_index=None)
    emulator.put_items(ddb, table, [{"pk": {"S": "c1"}, "n": {"N": "1"}}])
    before = len(stream(table))
    path = write_lines(tmp_path / "bad.jsonl", [
        {"pk": "c1", "n": 1},
        "{not json",
        {"pk": "c1"},
        {"pk": "c1", "n": "abc"},
        {"pk": {"N": "1"}, "n": 1},
        json.dumps("bare"),
    ])  # fmt: skip
    result = worker(table, KEYS_FILE=path)
    message = result.lines[0]["message"]
    assert result.code == 2 and len(result.lines) == 1
    assert "has 5 malformed lines" in message
    for expected in ("line 2: not JSON", "line 3: missing key attribute n", "line 4: n='abc' is not valid",
                     'line 5: pk is {"N": "1"}, but the key is of type S', "line 6: a bare value"):  # fmt: skip
        assert expected in message, expected
    assert len(stream(table)) == before
