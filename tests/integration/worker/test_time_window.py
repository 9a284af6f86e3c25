"""CHANGED_FROM/CHANGED_TO: the items changed in a time window, through incremental exports the worker requests.
What fires is read from DynamoDB Local's stream; the export request is answered by the stand-in
(tests/support/incremental_export.py), which builds the export from that same stream, on S3 on a loopback moto
server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stream_rerun_dev import emulator
from tests.support.env import worker_process_env
from tests.support.incremental_export import IncrementalExports
from tests.support.items import item
from tests.support.s3 import objects_under
from tests.support.streams import fired_by

HOUR = timedelta(hours=1)


@dataclass
class Incident:
    table: str
    bucket: str
    start: datetime  # CHANGED_FROM
    end: datetime  # CHANGED_TO
    changed: list[tuple[str, str]]  # changed in the window and still there
    deleted: list[tuple[str, str]]  # deleted in the window

    def env(self, standin: IncrementalExports, s3_endpoint: str, to: bool = True, **more: str) -> dict[str, str]:
        window = {"CHANGED_FROM": self.start.isoformat(), **({"CHANGED_TO": self.end.isoformat()} if to else {})}
        return {**window, "EXPORT_S3_URI": f"s3://{self.bucket}/exports/", "AWS_ENDPOINT_URL_S3": s3_endpoint, **more}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def incident(ddb: Any, make_table: Any, bucket: Any, standin: IncrementalExports) -> Incident:
    """Writes an hour before the window, in it (new items, a change, deletes) and an hour after it."""
    table = make_table()
    t0 = standin.enable_pitr(table)
    emulator.put_items(ddb, table, [item("a", f"{n}", status="OK") for n in range(5)])  # before
    standin.advance(HOUR)
    emulator.put_items(ddb, table, [item("b", f"{n}", status="FAILED" if n % 2 else "OK") for n in range(5)])
    ddb.update_item(TableName=table, Key=key("a", "0"), UpdateExpression="SET note = :n",
                    ExpressionAttributeValues={":n": {"S": "changed"}})  # fmt: skip
    ddb.delete_item(TableName=table, Key=key("a", "1"))
    ddb.put_item(TableName=table, Item=item("x", "1"))
    ddb.delete_item(TableName=table, Key=key("x", "1"))  # made and deleted in the window
    standin.advance(HOUR)
    emulator.put_items(ddb, table, [item("c", f"{n}") for n in range(3)])  # after
    ddb.update_item(TableName=table, Key=key("a", "2"), UpdateExpression="SET note = :n",
                    ExpressionAttributeValues={":n": {"S": "later"}})  # fmt: skip
    standin.advance(HOUR)
    changed = [("a", "0")] + [("b", f"{n}") for n in range(5)]
    return Incident(table, bucket({}), t0 + HOUR / 2, t0 + HOUR * 3 / 2, changed, [("a", "1"), ("x", "1")])


def keys_in(text: str) -> list[tuple[str, str]]:
    return sorted((k["pk"]["S"], k["sk"]["S"]) for k in map(json.loads, text.splitlines()))


def test_items_changed_in_the_window_fire_once_and_deletes_are_listed_never_resurrected(
    ddb: Any, make_table: Any, bucket: Any, stream: Any, worker: Any, incremental_exports: IncrementalExports,
    s3_endpoint: str, tmp_path: Path,
) -> None:  # fmt: skip
    standin = incremental_exports
    inc = incident(ddb, make_table, bucket, standin)
    removed = tmp_path / "removed.jsonl"
    # WHEN the worker runs on the window
    result = worker(inc.table, at=standin.endpoint, RUN_ID="win", REMOVED_KEYS_OUT=str(removed),
                    **inc.env(standin, s3_endpoint))  # fmt: skip
    # THEN exactly the items changed in it fired, once each; the deleted ones were counted, listed, not recreated
    assert result.code == 0, result.lines[-1]
    assert fired_by(stream(inc.table), "win") == Counter(inc.changed)
    assert result.summary["touched"] == 6 and result.summary["removed_in_window"] == 2
    assert result.summary["selected"] == 8 == result.event("run_started")["selected_total"]
    assert keys_in(removed.read_text()) == sorted(inc.deleted) and result.summary["removed_keys_written"] == 2
    for pk, sk in inc.deleted:
        assert "Item" not in ddb.get_item(TableName=inc.table, Key=key(pk, sk))
    assert standin.requests == 1 and len(standin.exports) == 1
    # WHEN the same RUN_ID runs again, THEN it reuses the export and fires nothing twice
    again = worker(inc.table, at=standin.endpoint, RUN_ID="win", **inc.env(standin, s3_endpoint))
    assert again.code == 0 and again.summary["already_done"] == 6 and again.summary["touched"] == 0
    assert fired_by(stream(inc.table), "win") == Counter(inc.changed) and len(standin.exports) == 1
    # WHEN it runs again after the token's 8 hours, THEN it finds the export by listing, and asks for none
    standin.advance(HOUR * 9)
    later = worker(inc.table, at=standin.endpoint, RUN_ID="win", **inc.env(standin, s3_endpoint))
    assert later.code == 0 and later.summary["already_done"] == 6
    assert len(standin.exports) == 1 and standin.requests == 1


def test_three_workers_share_one_export_and_split_its_files_also_when_changed_to_defaults(
    fresh_endpoint: str, make_table: Any, bucket: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    ddb = emulator.ddb(fresh_endpoint)
    with IncrementalExports(fresh_endpoint, s3_endpoint, export_seconds=2.0) as standin:
        inc = incident(ddb, lambda: make_table(client=ddb), bucket, standin)
        # WHEN three worker processes run from CHANGED_FROM at once, CHANGED_TO left to each one's latest time
        window = inc.env(standin, s3_endpoint, to=False, REMOVED_KEYS_OUT=f"{tmp_path}/")
        variables = worker_process_env(standin.endpoint, TABLE_NAME=inc.table, RUN_ID="fan", WORKER_COUNT="3", **window)
        procs = [subprocess.Popen([sys.executable, "-m", "stream_rerun"], env={**variables, "WORKER_INDEX": str(i)},
                                  stdout=subprocess.PIPE, text=True) for i in range(3)]  # fmt: skip
        outputs = [[json.loads(line) for line in p.communicate(timeout=120)[0].splitlines()] for p in procs]
        # THEN one export served them all, each took one data file, and every changed item fired once
        assert [p.returncode for p in procs] == [0, 0, 0]
        assert len(standin.exports) == 1
        started = [next(line for line in out if line.get("event") == "run_started") for out in outputs]
        assert [s["selection"]["my_data_files"] for s in started] == [1, 1, 1]
        after = [("a", "2"), ("c", "0"), ("c", "1"), ("c", "2")]  # the window runs to the latest time: these too
        assert fired_by(emulator.stream_records(fresh_endpoint, ddb, inc.table), "fan") == Counter(inc.changed + after)
        assert sum(out[-1]["removed_in_window"] for out in outputs) == 2
        listed = sorted(tmp_path.glob("fan.removed.worker-*-of-3.jsonl"))
        assert len(listed) == 3 and sorted(k for f in listed for k in keys_in(f.read_text())) == sorted(inc.deleted)
        # AND each waited for the export with its status on progress lines
        assert any(line.get("export_status") == "IN_PROGRESS" for out in outputs for line in out)


def test_an_export_not_done_in_max_export_wait_is_exit_1_naming_it_and_a_rerun_reuses_it(
    ddb: Any, make_table: Any, bucket: Any, stream: Any, worker: Any, incremental_exports: IncrementalExports,
    s3_endpoint: str,
) -> None:  # fmt: skip
    standin = incremental_exports
    standin.export_seconds = 3.0
    inc = incident(ddb, make_table, bucket, standin)
    before = len(stream(inc.table))
    first = worker(inc.table, at=standin.endpoint, RUN_ID="slow", MAX_EXPORT_WAIT_SECONDS="1",
                   **inc.env(standin, s3_endpoint))  # fmt: skip
    arn = next(iter(standin.exports))
    assert (
        first.code == 1
        and arn in first.lines[-1]["message"]
        and "MAX_EXPORT_WAIT_SECONDS" in first.lines[-1]["message"]
    )
    assert len(stream(inc.table)) == before
    second = worker(inc.table, at=standin.endpoint, RUN_ID="slow", **inc.env(standin, s3_endpoint))
    assert second.code == 0 and len(standin.exports) == 1 and second.summary["touched"] == 6


def test_keys_file_takes_an_incremental_export_folder_and_filters_apply(
    ddb: Any, make_table: Any, bucket: Any, stream: Any, worker: Any, incremental_exports: IncrementalExports,
    s3_endpoint: str,
) -> None:  # fmt: skip
    standin = incremental_exports
    inc = incident(ddb, make_table, bucket, standin)
    worker(inc.table, at=standin.endpoint, RUN_ID="one", DRY_RUN="true", **inc.env(standin, s3_endpoint))
    folder = (
        f"s3://{inc.bucket}/{next(iter(standin.exports.values())).description['ExportManifest'].rpartition('/')[0]}/"
    )
    # WHEN an operator's incremental export is the KEYS_FILE, with FILTER_* narrowing it
    result = worker(inc.table, at=standin.endpoint, RUN_ID="kf", KEYS_FILE=folder, AWS_ENDPOINT_URL_S3=s3_endpoint,
                    FILTER_ATTRIBUTE="status", FILTER_VALUES='["FAILED"]',
                    REMOVED_KEYS_OUT=f"s3://{inc.bucket}/out/")  # fmt: skip
    # THEN only the changed items holding the value fired, the deletes were counted and listed on S3
    assert result.code == 0, result.lines[-1]
    assert fired_by(stream(inc.table), "kf") == Counter([("b", "1"), ("b", "3")])
    assert result.summary["filtered_out"] == 4 and result.summary["removed_in_window"] == 2
    listed = objects_under(s3_endpoint, inc.bucket, "out/")
    assert keys_in(listed["out/kf.removed.jsonl"]) == sorted(inc.deleted)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("pitr_off", "point-in-time recovery"),
        ("before_earliest", "outside point-in-time recovery's restorable window"),
        ("after_latest", "outside point-in-time recovery's restorable window"),
        ("from_not_before_to", "is not before CHANGED_TO"),
        ("no_export_uri", "CHANGED_FROM needs EXPORT_S3_URI"),
        ("no_zone", "CHANGED_FROM='2026-11-27T02:10:00' is invalid"),
    ],
)
def test_a_bad_window_is_exit_2_one_line_nothing_written(
    case: str, expected: str, ddb: Any, make_table: Any, bucket: Any, stream: Any, worker: Any,
    incremental_exports: IncrementalExports, s3_endpoint: str,
) -> None:  # fmt: skip
    standin = incremental_exports
    table = make_table()
    emulator.put_items(ddb, table, [item("a", "1")])
    since = standin.enable_pitr(table) if case != "pitr_off" else standin.now() - HOUR
    now = standin.advance(HOUR)
    margin = timedelta(minutes=5)
    env = {"CHANGED_FROM": (since + margin).isoformat(), "CHANGED_TO": (now - margin).isoformat(),
           "EXPORT_S3_URI": f"s3://{bucket({})}/x/", "AWS_ENDPOINT_URL_S3": s3_endpoint}  # fmt: skip
    if case == "before_earliest":
        env["CHANGED_FROM"] = (since - HOUR).isoformat()
    elif case == "after_latest":
        env["CHANGED_TO"] = (now + HOUR).isoformat()
    elif case == "from_not_before_to":
        env["CHANGED_TO"] = env["CHANGED_FROM"]
    elif case == "no_export_uri":
        del env["EXPORT_S3_URI"]
    elif case == "no_zone":
        env["CHANGED_FROM"] = "2026-11-27T02:10:00"
    before = len(stream(table))
    result = worker(table, at=standin.endpoint, RUN_ID="bad", **env)
    assert result.code == 2 and len(result.lines) == 1 and expected in result.lines[0]["message"], result.lines
    assert len(stream(table)) == before and standin.requests == 0
