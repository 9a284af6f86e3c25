"""FAILED_BATCHES_FROM without the network: its settings rules, reading a record, reading a batch back from a stream
(fake client), which messages are deleted as keys settle, and the queue's visibility heartbeat."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stream_rerun.errors import ConfigError
from stream_rerun.sources import Context
from stream_rerun.sources._batch_exports import ExportFallback, arrival_window
from stream_rerun.sources._failure_records import Batch, owner, parse_record, stream_keys
from stream_rerun.sources._sqs import Message, Queue
from stream_rerun.sources.failed_batches import FailedBatchesSource, check_settings
from stream_rerun.table import TableInfo

TABLE = TableInfo("orders", ("pk", "sk"), {"pk": "S", "sk": "N"}, {}, "dynamodb:NEW_AND_OLD_IMAGES", 0, 0)
ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2026-11-27T00:00:00.000"


class Given:
    def __init__(self, **values: Any) -> None:
        self.failed_batches_from = values.get("failed_batches_from")
        self.delete_settled_messages = values.get("delete_settled_messages", False)


def key(n: int) -> dict[str, Any]:
    return {"pk": {"S": "c"}, "sk": {"N": str(n)}}


def record(start: str = "100", end: str = "200", **extra: Any) -> dict[str, Any]:
    info = {"shardId": "shardId-1", "startSequenceNumber": start, "endSequenceNumber": end, "batchSize": 2,
            "streamArn": ARN}  # fmt: skip
    return {"requestContext": {}, "version": "1.0", "DDBStreamBatchInfo": info, **extra}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"failed_batches_from": "https://sqs.eu-west-1.amazonaws.com/123/q"}, "is not an SQS queue URL"),
        ({"failed_batches_from": "s3://b"}, "is not s3://bucket/prefix/"),
        ({"failed_batches_from": "f.jsonl", "delete_settled_messages": True}, "deletes messages of an SQS queue"),
        ({"delete_settled_messages": True}, "deletes messages of an SQS queue"),
    ],
)
def test_settings_rules_name_the_fix(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_settings(Given(**values))  # type: ignore[arg-type]


def test_queue_urls_folders_and_files_are_accepted() -> None:
    for given in ("https://sqs.eu-west-1.amazonaws.com/123456789012/on-failure", "http://127.0.0.1:4566/000000000000/q",
                  "s3://bucket/aws/lambda/", "s3://bucket/failed.jsonl", "failed.jsonl"):  # fmt: skip
        check_settings(Given(failed_batches_from=given, delete_settled_messages=given.startswith("http")))  # type: ignore[arg-type]


def test_a_record_gives_its_batch_and_its_payload_keys_as_an_sqs_message_or_bare() -> None:
    event = {"Records": [{"dynamodb": {"Keys": {"pk": {"S": "c"}, "sk": {"N": "1"}}}}]}
    bare = parse_record(json.dumps(record(payload=json.dumps(event))), "x", TABLE)
    wrapped = parse_record(json.dumps({"MessageId": "m", "Body": json.dumps(record(payload=event))}), "x", TABLE)
    for batch in (bare, wrapped):
        assert (batch.shard, batch.start, batch.end, batch.stream_arn) == ("shardId-1", "100", "200", ARN)
        assert batch.payload_keys == [key(1)]
    assert parse_record(json.dumps(record()), "x", TABLE).payload_keys is None
    with pytest.raises(ConfigError, match="line 3 is not a Lambda on-failure record"):
        parse_record(json.dumps(record(start="abc")), "f.jsonl line 3", TABLE)


class FakeStreams:
    """GetShardIterator/GetRecords over a list of (sequence number, key), `page` records a call."""

    def __init__(self, records: list[tuple[int, dict[str, Any]]], page: int = 2, error: str | None = None) -> None:
        self.records, self.page, self.error = records, page, error

    def get_shard_iterator(self, **params: Any) -> dict[str, Any]:
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "x"}}, "GetShardIterator")
        at = next((i for i, (n, _) in enumerate(self.records) if n >= int(params["SequenceNumber"])), len(self.records))
        return {"ShardIterator": str(at)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        at = int(ShardIterator)
        chunk = self.records[at : at + self.page]
        found = [{"dynamodb": {"SequenceNumber": f"{n:021}", "Keys": k}} for n, k in chunk]
        return {"Records": found, "NextShardIterator": str(at + len(chunk))}


def test_a_batch_is_read_back_from_its_start_to_its_end() -> None:
    streams = FakeStreams([(n, key(n)) for n in range(100, 110)])
    batch = Batch("x", "s", f"{102:021}", f"{106:021}", ARN)
    assert stream_keys(streams, batch, TABLE) == [key(n) for n in range(102, 107)]


@pytest.mark.parametrize(
    ("streams", "why"),
    [
        (FakeStreams([(n, key(n)) for n in range(103, 110)]), "its first record is gone (trimmed)"),
        (FakeStreams([(n, key(n)) for n in range(100, 105)]), "the shard ends before its last record"),
        (FakeStreams([], error="TrimmedDataAccessException"), "DynamoDB says trimmed"),
        (FakeStreams([], error="ResourceNotFoundException"), "an old stream, gone"),
    ],
)
def test_a_batch_the_stream_no_longer_holds_is_unresolved(streams: FakeStreams, why: str) -> None:
    assert stream_keys(streams, Batch("x", "s", f"{102:021}", f"{106:021}", ARN), TABLE) is None, why


class FakeQueue:
    def __init__(self) -> None:
        self.deleted_ids: list[str] = []
        self.deleted = 0

    def delete(self, message_id: str) -> None:
        self.deleted_ids.append(message_id)
        self.deleted += 1


def settled_source(delete: bool) -> tuple[FailedBatchesSource, FakeQueue]:
    """Three batches from a queue: m1 holds keys 1 and 2, m2 keys 2 and 3, m3 key 4."""
    batches = [Batch("m1", "s", "1", "2", ARN, [key(1), key(2)], "m1"), Batch("m2", "s", "2", "3", ARN, [key(2),
               key(3)], "m2"), Batch("m3", "s", "4", "4", ARN, [key(4)], "m3")]  # fmt: skip
    source = FailedBatchesSource("http://127.0.0.1:1/123456789012/q", delete, Context(TABLE, None, lambda: None),  # type: ignore[arg-type]
                                 lambda: None, lambda: None)  # fmt: skip
    source.batches, queue = batches, FakeQueue()
    source.queue = queue  # type: ignore[assignment]
    source._resolve()
    return source, queue


def test_a_message_goes_only_when_every_key_of_its_batch_settled() -> None:
    source, queue = settled_source(delete=True)
    assert [len(page) for page in source.pages()] == [4]  # the union, each key once
    source.settled([(key(1), "touched"), (key(2), "already_done")])
    assert queue.deleted_ids == ["m1"]  # m2 waits for key 3
    source.settled([(key(4), "failed"), (key(3), "vanished")])
    assert queue.deleted_ids == ["m1", "m2"]  # m3's key failed: its message stays
    assert source.counts() == {"batches_read": 3, "batches_resolved": 3, "unresolved_batches": 0,
                               "batches_resolved_by_export": 0, "messages_deleted": 2}  # fmt: skip


def test_without_delete_settled_messages_nothing_is_deleted() -> None:
    source, queue = settled_source(delete=False)
    source.settled([(key(n), "touched") for n in range(1, 5)])
    assert queue.deleted_ids == []


class FakeSqs:
    def __init__(self) -> None:
        self.changes: list[int] = []
        self.lock = threading.Lock()

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            self.changes += [e["VisibilityTimeout"] for e in Entries]
        return {}


def test_held_messages_are_extended_while_held_and_released_at_the_end() -> None:
    sqs = FakeSqs()
    queue = Queue("http://127.0.0.1:1/123456789012/q", sqs, visibility_s=30, every_s=0.1)  # type: ignore[arg-type]
    queue.held = {"m": Message("{}", "r", "m")}
    queue._heartbeat.start()
    time.sleep(0.35)
    queue.release()
    assert sqs.changes[0] == 30 and sqs.changes[-1] == 0  # renewed, then made visible at once


def test_three_workers_split_a_files_batches_each_to_exactly_one(tmp_path: Any) -> None:
    path = tmp_path / "failed.jsonl"
    path.write_text("\n".join(json.dumps(record(str(n), str(n + 1))) for n in range(100, 160)) + "\n")
    shares = []
    for index in range(3):
        source = FailedBatchesSource(str(path), False, Context(TABLE, None, lambda: None), lambda: None, lambda: None,  # type: ignore[arg-type]
                                     index=index, count=3)  # fmt: skip
        shares.append([batch.start for batch in source._read()])
    assert sorted(s for share in shares for s in share) == sorted(str(n) for n in range(100, 160))  # each once
    assert all(10 <= len(share) <= 30 for share in shares)  # spread by the batch's hash
    assert [owner(parse_record(json.dumps(record(s)), "", TABLE), 3) for s in shares[1]] == [1] * len(shares[1])


def test_a_batchs_arrival_window_ends_after_its_last_record_and_needs_both_times() -> None:
    window = arrival_window("2026-11-27T02:10:00.835Z", "2026-11-27T02:11:30Z")
    assert window is not None and str(window) == "[2026-11-27T02:10:00.835000+00:00, 2026-11-27T02:11:31+00:00)"
    assert arrival_window(None, "2026-11-27T02:11:30Z") is None
    assert arrival_window("2026-11-27T02:10:00", "2026-11-27T02:11:30") is None  # no zone: not Lambda's


class NoPitr:
    def describe_continuous_backups(self, **_: Any) -> dict[str, Any]:
        return {
            "ContinuousBackupsDescription": {
                "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}
            }
        }


def test_without_export_s3_uri_or_point_in_time_recovery_no_export_is_asked_for() -> None:
    first, last = "2026-11-27T02:10:00Z", "2026-11-27T02:11:00Z"
    context = Context(TABLE, NoPitr(), lambda: None)  # type: ignore[arg-type]
    assert ExportFallback("r", None, 60, context).keys_of(first, last, {}) is None
    assert ExportFallback("r", "s3://b/p/", 60, context).keys_of(first, last, {}) is None


class SharedQueue:
    """A queue of messages m0..m5 with visibility (receipt = message id), as three workers see it."""

    def __init__(self) -> None:
        self.hidden_until = {f"m{n}": 0.0 for n in range(6)}
        self.deleted: list[str] = []

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        visible = sum(1 for t in self.hidden_until.values() if t <= time.monotonic())
        return {"Attributes": {"ApproximateNumberOfMessages": str(visible)}}

    def receive_message(self, MaxNumberOfMessages: int, VisibilityTimeout: int, **_: Any) -> dict[str, Any]:
        now = time.monotonic()
        got = [m for m, t in self.hidden_until.items() if t <= now][:MaxNumberOfMessages]
        for m in got:
            self.hidden_until[m] = now + VisibilityTimeout
        return {"Messages": [{"MessageId": m, "ReceiptHandle": m, "Body": "{}"} for m in got]}

    def change_message_visibility_batch(self, Entries: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        for e in Entries:
            self.hidden_until[e["ReceiptHandle"]] = time.monotonic() + e["VisibilityTimeout"]
        return {}

    def delete_message(self, ReceiptHandle: str, **_: Any) -> dict[str, Any]:
        self.deleted.append(ReceiptHandle)
        self.hidden_until.pop(ReceiptHandle)
        return {}


def test_fan_out_workers_each_keep_their_own_messages_and_release_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stream_rerun.sources._sqs.FAN_OUT_QUIET_S", 0.05)
    shared = SharedQueue()
    held = []
    for index in range(3):
        queue = Queue("http://127.0.0.1:1/123456789012/q", shared, every_s=60)  # type: ignore[arg-type]
        mine = queue.receive_all(lambda m, i=index: int(m.message_id[1:]) % 3 == i, fan_out=True)  # type: ignore[misc]
        held.append(sorted(m.message_id for m in mine))
        queue._stop.set()
    assert held == [["m0", "m3"], ["m1", "m4"], ["m2", "m5"]]  # each its own, none twice, none lost
    assert shared.deleted == [] and shared.get_queue_attributes()["Attributes"]["ApproximateNumberOfMessages"] == "0"
