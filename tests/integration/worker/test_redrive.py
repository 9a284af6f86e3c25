"""FAILED_KEYS_OUT: the keys a run did not settle, written as a key file that a second run completes; and exports and
re-drive files on S3 (a loopback moto server stands in for S3 only; the table is DynamoDB Local)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from stream_rerun_dev import emulator
from tests.support.env import worker_process_env
from tests.support.exports import export_files, s3_folder
from tests.support.items import item
from tests.support.s3 import objects_under
from tests.support.streams import fired_by, wait_for_touches


def keys_in(text: str) -> list[tuple[str, str]]:
    return [(k["pk"]["S"], k["sk"]["S"]) for k in map(json.loads, text.splitlines())]


def test_sigterm_writes_a_redrive_file_that_the_same_run_id_completes(
    fresh_endpoint: str, make_table: Any, tmp_path: Path
) -> None:
    # GIVEN a slowed run over 2,500 items (three pages: two read ahead of the writes) writing a re-drive file
    endpoint, ddb = fresh_endpoint, emulator.ddb(fresh_endpoint)
    table = make_table(client=ddb)
    keys = [("p1", f"{n:05}") for n in range(2500)]
    emulator.put_items(ddb, table, [item(pk, sk, revision=1) for pk, sk in keys])
    out = tmp_path / "redrive.jsonl"
    variables = worker_process_env(endpoint, TABLE_NAME=table, HASH_KEY_VALUE="p1", RUN_ID="rd",
                                   MAX_ITEMS_PER_SECOND="300", FAILED_KEYS_OUT=str(out))  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "stream_rerun"], env=variables, stdout=subprocess.PIPE, text=True)
    # WHEN it is stopped by SIGTERM after some touches
    wait_for_touches(ddb, table, "rd", 100)
    proc.send_signal(signal.SIGTERM)
    first = json.loads(proc.communicate(timeout=60)[0].splitlines()[-1])
    # THEN the file holds every selected key not settled, and the summary says so
    assert proc.returncode == 143 and 0 < first["touched"] < 2500
    assert first["failed_keys_out"] == str(out) and first["selection_read_to_end"] is True
    redrive = keys_in(out.read_text())
    assert len(redrive) == first["failed_keys_written"] == first["unprocessed"] + first["failed"] > 0
    assert first["selected"] == 2500 and first["touched"] + len(redrive) == 2500
    # WHEN a second run with the same RUN_ID takes the file as its KEYS_FILE
    second = subprocess.run([sys.executable, "-m", "stream_rerun"], capture_output=True, text=True, check=False,
                            env={**{k: v for k, v in variables.items() if k != "HASH_KEY_VALUE"}, "KEYS_FILE": str(out),
                                 "FAILED_KEYS_OUT": str(tmp_path / "second.jsonl")})  # fmt: skip
    last = json.loads(second.stdout.splitlines()[-1])
    # THEN it completes, and every item fired exactly once across both runs
    assert second.returncode == 0 and last["touched"] + last["already_done"] == len(redrive)
    assert last["failed_keys_written"] == 0 and (tmp_path / "second.jsonl").read_text() == ""
    assert fired_by(emulator.stream_records(endpoint, ddb, table), "rd") == Counter(keys)


def test_failed_items_go_to_the_redrive_file(ddb: Any, make_table: Any, worker: Any, tmp_path: Path) -> None:
    # GIVEN 40 items, three of which hold a revision that is not a number
    table = make_table()
    rows = [item("p", f"{n:03}", revision=1) for n in range(40)]
    for n in (4, 17, 33):
        rows[n]["revision"] = {"S": "oops"}
    emulator.put_items(ddb, table, rows)
    out = tmp_path / "out"
    out.mkdir()
    result = worker(table, HASH_KEY_VALUE="p", RUN_ID="fk", FAILED_KEYS_OUT=f"{out}/")
    # THEN exit 1, and the folder holds <RUN_ID>.jsonl with exactly the three keys
    assert result.code == 1 and result.summary["failed"] == 3
    assert sorted(keys_in((out / "fk.jsonl").read_text())) == [("p", "004"), ("p", "017"), ("p", "033")]
    assert result.summary["failed_keys_out"] == f"{out}/fk.jsonl"


def test_an_unwritable_redrive_path_is_exit_2_before_any_write(
    ddb: Any, make_table: Any, stream: Any, worker: Any, tmp_path: Path
) -> None:
    table = make_table()
    emulator.put_items(ddb, table, [item("p", "1")])
    before = len(stream(table))
    result = worker(table, HASH_KEY_VALUE="p", FAILED_KEYS_OUT=str(tmp_path / "no" / "such" / "dir" / "f.jsonl"))
    assert result.code == 2 and "FAILED_KEYS_OUT" in result.lines[-1]["message"]
    assert len(stream(table)) == before


def test_an_export_on_s3_fans_out_and_redrive_files_land_on_s3(
    s3_endpoint: str, bucket: Any, ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    # GIVEN an export in a bucket (4 data files) of a table where one item's revision is not a number
    table = make_table()
    chunks = [[item(f"e{f}", f"{n:03}", revision=1) for n in range(50)] for f in range(4)]
    chunks[2][5]["revision"] = {"S": "bad"}
    emulator.put_items(ddb, table, [i for c in chunks for i in c])
    objects = export_files(table, chunks, prefix="orders")
    name = bucket(objects)
    folder = s3_folder(name, objects)
    # WHEN two workers run it, each with a re-drive folder on S3
    results = [worker(table, KEYS_FILE=folder, WORKER_INDEX=str(i), WORKER_COUNT="2", RUN_ID="s3run",
                      FAILED_KEYS_OUT=f"s3://{name}/redrive/", AWS_ENDPOINT_URL_S3=s3_endpoint)
               for i in range(2)]  # fmt: skip
    # THEN every item but the bad one fired once; the worker that met it wrote it to its own file
    assert sorted(r.code for r in results) == [0, 1]
    keys = Counter((i["pk"]["S"], i["sk"]["S"]) for c in chunks for i in c)
    del keys[("e2", "005")]
    assert fired_by(stream(table), "s3run") == keys
    assert objects_under(s3_endpoint, name, "redrive/") == {
        "redrive/s3run.worker-1-of-2.jsonl": '{"pk":{"S":"e2"},"sk":{"S":"005"}}\n',
        "redrive/s3run.worker-2-of-2.jsonl": ""}  # fmt: skip
