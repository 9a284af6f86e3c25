"""FAILED_BATCHES_FROM: the batches a consumer failed, named by on-failure records built from DynamoDB Local's real
stream, re-fire exactly their keys, once (read back from the stream)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from stream_rerun.sources._failure_records import Batch, owner
from stream_rerun_dev import emulator
from tests.support.env import worker_process_env
from tests.support.failed_batches import bodies, on_failure_record, shard_records
from tests.support.incremental_export import IncrementalExports
from tests.support.items import item
from tests.support.streams import fired_by, key_of


def changed_table(ddb: Any, make_table: Any) -> str:
    """A table of 30 items, 5 of them modified since: 35 stream records (30 INSERT, then 5 MODIFY of c/00..04)."""
    table = make_table()
    emulator.put_items(ddb, table, [item("c", f"{n:02}", revision=1) for n in range(30)])
    for n in range(5):
        ddb.update_item(TableName=table, Key={"pk": {"S": "c"}, "sk": {"S": f"{n:02}"}},
                        UpdateExpression="SET note = :n", ExpressionAttributeValues={":n": {"S": "x"}})  # fmt: skip
    return table


def beyond(records: list[dict[str, Any]]) -> str:
    """A sequence number past the shard's last record (as DynamoDB Local writes them: 21 digits)."""
    last = records[-1]["dynamodb"]["SequenceNumber"]
    return str(int(last) + 1000).zfill(len(last))


def keys_of(records: list[dict[str, Any]]) -> Counter[tuple[str, ...]]:
    return Counter(dict.fromkeys(key_of(r) for r in records).keys())


def test_the_queue_refires_its_batches_once_and_deletes_only_settled_messages(
    endpoint: str, s3_endpoint: str, ddb: Any, make_table: Any, stream: Any, worker: Any, queue: Any
) -> None:
    # GIVEN a queue of 5 failed batches: three on the stream (the MODIFY batch repeats keys of the first), one whose
    # range lies beyond the shard, one of an older stream of the table that no longer exists
    table = changed_table(ddb, make_table)
    arn, shard, records = shard_records(endpoint, ddb, table)
    assert len(records) == 35
    good = [records[0:5], records[10:15], records[30:35]]
    old_arn = arn.rpartition("/stream/")[0] + "/stream/2020-01-01T00:00:00.000"
    gone = [on_failure_record(arn, shard, records[20:21], start=beyond(records), end=beyond(records)),
            on_failure_record(old_arn, shard, records[20:25])]  # fmt: skip
    url = queue([on_failure_record(arn, shard, batch) for batch in good] + gone)
    expected = keys_of([r for batch in good for r in batch])
    assert len(expected) == 10
    env = {"FAILED_BATCHES_FROM": url, "AWS_ENDPOINT_URL_SQS": s3_endpoint, "RUN_ID": "fb1"}
    # WHEN the worker runs without deleting
    first = worker(table, **env)
    # THEN exactly the batches' keys fired, once each; the unresolved batches make exit 1; every message is back
    assert first.code == 1
    assert fired_by(stream(table), "fb1") == expected
    assert {k: first.summary[k] for k in ("selected", "touched", "batches_read", "batches_resolved",
                                          "unresolved_batches", "messages_deleted")} == {
        "selected": 10, "touched": 10, "batches_read": 5, "batches_resolved": 3, "unresolved_batches": 2,
        "messages_deleted": 0}  # fmt: skip
    unresolved = [line for line in first.lines if line.get("event") == "batch_unresolved"]
    starts = sorted([beyond(records), records[20]["dynamodb"]["SequenceNumber"]])
    assert sorted(line["start_sequence_number"] for line in unresolved) == starts
    assert all(line["shard_id"] == shard for line in unresolved)
    assert len(bodies(s3_endpoint, url)) == 5
    # WHEN it runs again with the same RUN_ID, deleting settled messages
    second = worker(table, **env, DELETE_SETTLED_MESSAGES="true")
    # THEN nothing fired twice, the three settled batches' messages are gone and the two unresolved ones stay
    assert second.code == 1
    assert fired_by(stream(table), "fb1") == expected
    assert (second.summary["already_done"], second.summary["messages_deleted"]) == (10, 3)
    kept = bodies(s3_endpoint, url)
    assert sorted(b["DDBStreamBatchInfo"]["streamArn"] for b in kept) == sorted([arn, old_arn])


def split_among_three(arn: str, shard: str, records: list[Any]) -> tuple[list[list[Any]], Counter[int]]:
    """Eight batches of 3 records and one of 5 (records 30-34, whose keys the others share), cut at the first offset
    at which each of 3 workers owns one; and how many each owns."""
    for offset in range(7):
        good = [records[n : n + 3] for n in range(offset, offset + 24, 3)] + [records[30:35]]
        share = Counter(owner(Batch("", shard, b[0]["dynamodb"]["SequenceNumber"], "", arn), 3) for b in good)
        if len(share) == 3:
            return good, share
    raise AssertionError("no cut of the records gives each of 3 workers a batch")


def test_three_workers_split_the_queue_each_batch_fires_once_and_only_settled_messages_go(
    endpoint: str, s3_endpoint: str, ddb: Any, make_table: Any, stream: Any, queue: Any
) -> None:
    # GIVEN a queue of 9 failed batches of the real stream (two share keys), and one whose records are gone
    table = changed_table(ddb, make_table)
    arn, shard, records = shard_records(endpoint, ddb, table)
    # (a batch's worker is a hash of the shard and its first sequence number, which the emulator chooses: the batches
    # are cut where every worker gets some)
    good, share = split_among_three(arn, shard, records)
    gone = on_failure_record(arn, shard, records[20:21], start=beyond(records), end=beyond(records))
    url = queue([on_failure_record(arn, shard, batch) for batch in good] + [gone])
    share[owner(Batch("", shard, beyond(records), "", arn), 3)] += 1
    assert len(share) == 3  # every worker has batches of its own
    # WHEN three worker processes run at once, deleting settled messages
    variables = worker_process_env(endpoint, TABLE_NAME=table, RUN_ID="fan", WORKER_COUNT="3", FAILED_BATCHES_FROM=url,
                                   AWS_ENDPOINT_URL_SQS=s3_endpoint, DELETE_SETTLED_MESSAGES="true")  # fmt: skip
    procs = [subprocess.Popen([sys.executable, "-m", "stream_rerun"], env={**variables, "WORKER_INDEX": str(i)},
                              stdout=subprocess.PIPE, text=True) for i in range(3)]  # fmt: skip
    summaries = [json.loads(p.communicate(timeout=120)[0].splitlines()[-1]) for p in procs]
    # THEN each took exactly its share of the batches; the union of the batches' keys fired, each key once
    assert [s["batches_read"] for s in summaries] == [share[i] for i in range(3)]
    assert fired_by(stream(table), "fan") == keys_of([r for batch in good for r in batch])
    # AND only the settled batches' messages are gone: the unresolved one stays, its worker alone exits 1
    assert sum(s["messages_deleted"] for s in summaries) == len(good)
    assert [b["DDBStreamBatchInfo"]["startSequenceNumber"] for b in bodies(s3_endpoint, url)] == [beyond(records)]
    assert [p.returncode for p in procs] == [1 if i == owner(Batch("", shard, beyond(records), "", arn), 3) else 0
                                             for i in range(3)]  # fmt: skip


def test_a_batch_the_stream_no_longer_holds_falls_back_to_an_export_of_its_arrival_window(
    tmp_path: Path, endpoint: str, s3_endpoint: str, bucket: Any, ddb: Any, make_table: Any, stream: Any,
    worker: Any, incremental_exports: IncrementalExports,
) -> None:  # fmt: skip
    # GIVEN 4 items changed together (a failed batch held 2 of them), and 2 changed an hour later
    standin = incremental_exports
    table = make_table()
    standin.enable_pitr(table)
    emulator.put_items(ddb, table, [item("w", f"{n}") for n in range(4)])
    standin.advance(timedelta(hours=1))
    emulator.put_items(ddb, table, [item("later", f"{n}") for n in range(2)])
    standin.advance(timedelta(hours=1))
    arn, shard, records = shard_records(endpoint, ddb, table)
    # AND the batch's record names a range the stream no longer holds (as after 24 hours)
    path = tmp_path / "failed.jsonl"
    path.write_text(json.dumps(on_failure_record(arn, shard, records[0:2], start=beyond(records), end=beyond(records))))
    # WHEN the worker runs without EXPORT_S3_URI, THEN the batch is unresolved, exit 1, nothing fires
    without = worker(table, at=standin.endpoint, FAILED_BATCHES_FROM=str(path), RUN_ID="fbx0")
    assert (without.code, without.summary["unresolved_batches"], without.summary["touched"]) == (1, 1, 0)
    # WHEN it runs with EXPORT_S3_URI, THEN every item changed in the batch's arrival window fires once (a superset
    # of the batch), nothing from outside it; the summary says the batch was resolved by an export
    env = {"FAILED_BATCHES_FROM": str(path), "EXPORT_S3_URI": f"s3://{bucket({})}/exports/",
           "AWS_ENDPOINT_URL_S3": s3_endpoint, "RUN_ID": "fbx"}  # fmt: skip
    result = worker(table, at=standin.endpoint, **env)
    assert result.code == 0, result.summary
    assert fired_by(stream(table), "fbx") == Counter(("w", f"{n}") for n in range(4))
    assert {k: result.summary[k] for k in ("batches_resolved", "batches_resolved_by_export", "unresolved_batches")} == {
        "batches_resolved": 1, "batches_resolved_by_export": 1, "unresolved_batches": 0}  # fmt: skip
    assert standin.requests == 1
    # WHEN the same RUN_ID runs again, THEN it reuses the export and fires nothing twice
    again = worker(table, at=standin.endpoint, **env)
    assert again.code == 0 and again.summary["already_done"] == 4 and standin.requests == 1


def test_s3_records_and_a_file_select_the_union_of_their_batches(
    tmp_path: Path, endpoint: str, s3_endpoint: str, bucket: Any, ddb: Any, make_table: Any, stream: Any,
    worker: Any,
) -> None:  # fmt: skip
    # GIVEN S3 on-failure objects with payloads (one names a range the stream does not hold: its payload is used)
    table = changed_table(ddb, make_table)
    arn, shard, records = shard_records(endpoint, ddb, table)
    s3_batches = [records[0:3], records[6:8]]
    past = beyond(records)
    objects = {"aws/lambda/esm-1/shard/2026/11/27/a": on_failure_record(arn, shard, s3_batches[0], payload=True),
               "aws/lambda/esm-1/shard/2026/11/27/b": on_failure_record(arn, shard, s3_batches[1], payload=True,
                                                                        start=past, end=past)}  # fmt: skip
    name = bucket({key: json.dumps(body, indent=2).encode() for key, body in objects.items()})
    # AND a file of records, one of them an SQS message as dumped (its record in Body)
    path = tmp_path / "failed.jsonl"
    file_batches = [records[12:14], records[31:33]]
    lines = [
        json.dumps(on_failure_record(arn, shard, file_batches[0])),
        json.dumps({"MessageId": "m1", "Body": json.dumps(on_failure_record(arn, shard, file_batches[1]))}),
    ]
    path.write_text("\n".join(lines) + "\n")
    # WHEN each is the selection, THEN exactly its batches' keys fire
    from_s3 = worker(table, FAILED_BATCHES_FROM=f"s3://{name}/aws/lambda/", AWS_ENDPOINT_URL_S3=s3_endpoint,
                     RUN_ID="fbs3")  # fmt: skip
    assert from_s3.code == 0 and from_s3.summary["batches_resolved"] == 2
    assert fired_by(stream(table), "fbs3") == keys_of([r for b in s3_batches for r in b])
    from_file = worker(table, FAILED_BATCHES_FROM=str(path), RUN_ID="fbfile")
    assert from_file.code == 0 and from_file.summary["batches_read"] == 2
    assert fired_by(stream(table), "fbfile") == keys_of([r for b in file_batches for r in b])


def test_a_batch_of_another_tables_stream_is_refused_and_its_message_kept(
    endpoint: str, s3_endpoint: str, ddb: Any, make_table: Any, stream: Any, worker: Any, queue: Any
) -> None:
    table, other = changed_table(ddb, make_table), make_table()
    ddb.put_item(TableName=other, Item=item("o", "1"))
    arn, shard, records = shard_records(endpoint, ddb, table)
    other_arn, other_shard, other_records = shard_records(endpoint, ddb, other)
    url = queue([on_failure_record(arn, shard, records[:2]), on_failure_record(other_arn, other_shard, other_records)])
    before = len(stream(table))
    result = worker(table, FAILED_BATCHES_FROM=url, AWS_ENDPOINT_URL_SQS=s3_endpoint, DELETE_SETTLED_MESSAGES="true")
    assert result.code == 2 and len(result.lines) == 1
    assert other in result.lines[0]["message"] and "not of table" in result.lines[0]["message"]
    assert len(stream(table)) == before
    assert len(bodies(s3_endpoint, url)) == 2  # both back at once


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"FAILED_BATCHES_FROM": "https://example.com/123456789012/q"}, "is not an SQS queue URL"),
        ({"FAILED_BATCHES_FROM": "s3://bucket-only"}, "is not s3://bucket/prefix/"),
        ({"FAILED_BATCHES_FROM": "FILE", "DELETE_SETTLED_MESSAGES": "true"}, "deletes messages of an SQS queue"),
        ({"FAILED_BATCHES_FROM": "FILE", "HASH_KEY_VALUE": "c"}, "exactly one selection"),
        ({"FAILED_BATCHES_FROM": "/no/such/file.jsonl"}, "FAILED_BATCHES_FROM '/no/such/file.jsonl' is not a readable"),
        ({"FAILED_BATCHES_FROM": "FILE", "_line": '{"DDBStreamBatchInfo": {"shardId": "s"}}'}, "KeyError"),
        ({"FAILED_BATCHES_FROM": "FILE", "_line": "not json"}, "is not a Lambda on-failure record"),
    ],
)
def test_each_bad_input_exits_2_with_one_line_and_writes_nothing(
    tmp_path: Path, ddb: Any, make_table: Any, stream: Any, worker: Any, given: dict[str, str], expected: str
) -> None:
    table = make_table()
    ddb.put_item(TableName=table, Item=item("c", "1"))
    path = tmp_path / "records.jsonl"
    path.write_text(given.pop("_line", "") + "\n")
    env = {name: str(path) if value == "FILE" else value for name, value in given.items()}
    before = len(stream(table))
    result = worker(table, **env)
    assert result.code == 2 and len(result.lines) == 1
    assert expected in result.lines[0]["message"]
    assert len(stream(table)) == before
