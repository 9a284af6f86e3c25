"""A DynamoDB export as the key source, and gzipped key files, read back from the stream."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

from stream_rerun_dev import emulator
from tests.support.exports import write_export
from tests.support.items import item
from tests.support.streams import fired_by


def exported(ddb: Any, make_table: Any, tmp_path: Path, files: int = 5, per_file: int = 120) -> tuple[str, Path, list]:
    """A table of files x per_file items (the last file empty) and an export of it in `files` data files."""
    table = make_table()
    chunks = [[item(f"c{f}", f"{n:04}", revision=1, note="x" * 50) for n in range(per_file)] for f in range(files - 1)]
    chunks.append([])  # an empty partition makes an empty data file
    emulator.put_items(ddb, table, [i for chunk in chunks for i in chunk])
    return table, write_export(tmp_path, table, chunks), [(i["pk"]["S"], i["sk"]["S"]) for c in chunks for i in c]


def test_an_export_refires_exactly_its_items_across_three_workers(
    tmp_path: Path, ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    # GIVEN an export of 480 items in 5 data files, and two items deleted since the export
    table, folder, keys = exported(ddb, make_table, tmp_path)
    gone = [keys[7], keys[300]]
    for pk, sk in gone:
        ddb.delete_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    # WHEN three workers share it
    results = [worker(table, KEYS_FILE=str(folder), WORKER_INDEX=str(i), WORKER_COUNT="3", RUN_ID="exp3")
               for i in range(3)]  # fmt: skip
    # THEN every exported item still there fired exactly once, the deleted ones were not recreated
    assert [r.code for r in results] == [0, 0, 0]
    assert fired_by(stream(table), "exp3") == Counter(k for k in keys if k not in gone)
    assert sum(r.summary["vanished"] for r in results) == 2
    for pk, sk in gone:
        assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    # AND each worker took every third data file, and knew its total before the first write
    started = [r.event("run_started") for r in results]
    assert [s["selection"]["my_data_files"] for s in started] == [2, 2, 1]
    assert [s["selected_total"] for s in started] == [240, 120, 120]
    assert [r.summary["selected"] for r in results] == [240, 120, 120]


def test_an_ion_export_is_refused_before_any_write(
    tmp_path: Path, ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    table = make_table()
    emulator.put_items(ddb, table, [item("a", "1")])
    folder = write_export(tmp_path, table, [[item("a", "1")]], output_format="ION")
    before = len(stream(table))
    result = worker(table, KEYS_FILE=str(folder))
    assert result.code == 2 and "ION" in result.lines[-1]["message"] and "DYNAMODB_JSON" in result.lines[-1]["message"]
    assert len(stream(table)) == before


def test_manifest_counts_that_do_not_add_up_are_refused(tmp_path: Path, make_table: Any, worker: Any) -> None:
    table = make_table()
    folder = write_export(tmp_path, table, [[item("a", "1")], [item("a", "2")]])
    summary = json.loads((folder / "manifest-summary.json").read_text())
    (folder / "manifest-summary.json").write_text(json.dumps({**summary, "itemCount": 3}))
    result = worker(table, KEYS_FILE=str(folder))
    assert result.code == 2 and "lists 2 items, manifest-summary.json says 3" in result.lines[-1]["message"]


def test_a_data_file_short_of_its_manifest_count_stops_the_run(
    tmp_path: Path, ddb: Any, make_table: Any, worker: Any
) -> None:
    # GIVEN an export whose second data file lost a line after the manifest was written
    table, folder, _ = exported(ddb, make_table, tmp_path, files=3, per_file=30)
    data = sorted((folder / "data").iterdir())
    lines = gzip.decompress(data[1].read_bytes()).decode().splitlines(keepends=True)
    data[1].write_bytes(gzip.compress("".join(lines[:-1]).encode()))
    # WHEN it runs, THEN it stops with exit 1 naming the file and both counts
    result = worker(table, KEYS_FILE=str(folder))
    assert result.code == 1
    assert f"{data[1].name} holds 29 items, the manifest says 30" in result.summary["error"]


def test_an_export_of_another_table_is_refused_before_any_write(
    tmp_path: Path, ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    table = make_table(keys=(("id", "S"),), date_index=None)
    ddb.put_item(TableName=table, Item={"id": {"S": "a"}})
    folder = write_export(tmp_path, "other", [[item("a", "1")]])
    before = len(stream(table))
    result = worker(table, KEYS_FILE=str(folder))
    assert result.code == 2 and "missing key attribute id" in result.lines[-1]["message"]
    assert len(stream(table)) == before


def test_a_gzipped_key_file_is_read(tmp_path: Path, ddb: Any, make_table: Any, stream: Any, worker: Any) -> None:
    table = make_table()
    emulator.put_items(ddb, table, [item("g", f"{n}") for n in range(30)])
    path = tmp_path / "keys.jsonl.gz"
    lines = "".join(json.dumps({"pk": "g", "sk": str(n)}) + "\n" for n in range(0, 30, 3))
    path.write_bytes(gzip.compress(lines.encode()))
    result = worker(table, KEYS_FILE=str(path), RUN_ID="gz")
    assert result.code == 0 and fired_by(stream(table), "gz") == Counter(("g", str(n)) for n in range(0, 30, 3))
