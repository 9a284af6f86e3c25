"""A Lambda on-failure record of a DynamoDB stream batch (`DDBStreamBatchInfo`) as a Batch, and reading a batch's
keys back from the stream (failed_batches.py). Lambda Developer Guide, "Retaining discarded records for a DynamoDB
event source in Lambda": https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from stream_rerun.errors import ConfigError, as_rerun_error, error_code
from stream_rerun.keys import Key, plain_key
from stream_rerun.sources._files import parse_key

if TYPE_CHECKING:
    from stream_rerun.table import TableInfo

VAR = "FAILED_BATCHES_FROM"
GONE = frozenset({"TrimmedDataAccessException", "ResourceNotFoundException", "ValidationException"})
_EMPTY_PAGES = 3  # GetRecords pages with nothing before the end is taken as records missing


@dataclass
class Batch:
    """One failed batch: where its record came from, its position in the stream, and its keys once resolved."""

    origin: str  # "<file> line <n>", an S3 object, or a queue message id
    shard: str
    start: str
    end: str
    stream_arn: str
    payload_keys: list[Key] | None = None
    message_id: str | None = None
    first: str | None = None  # approximateArrivalOfFirstRecord
    last: str | None = None  # approximateArrivalOfLastRecord
    keys: list[Key] | None = None  # None: unresolved
    by_export: bool = False  # keys are the items changed in its arrival window (a superset)
    waiting: set[str] = field(default_factory=set)  # key ids not settled yet
    failed: bool = False

    def where(self) -> dict[str, Any]:
        return {"shard_id": self.shard, "start_sequence_number": self.start, "end_sequence_number": self.end,
                "stream_arn": self.stream_arn, "origin": self.origin}  # fmt: skip


def key_id(key: Key) -> str:
    return json.dumps(plain_key(key), sort_keys=True)


def parse_record(text: str, origin: str, table: TableInfo) -> Batch:
    """One on-failure record (or an SQS message holding one in `Body`) as a Batch. Raises ConfigError."""
    try:
        record = json.loads(text)
        if isinstance(record, dict) and isinstance(record.get("Body"), str) and "DDBStreamBatchInfo" not in record:
            record = json.loads(record["Body"])
        info = record["DDBStreamBatchInfo"]
        batch = Batch(origin, str(info["shardId"]), str(info["startSequenceNumber"]),
                      str(info["endSequenceNumber"]), str(info["streamArn"]))  # fmt: skip
        int(batch.start), int(batch.end)
        batch.first = info.get("approximateArrivalOfFirstRecord")
        batch.last = info.get("approximateArrivalOfLastRecord")
        payload = record.get("payload")
        if payload is not None:
            event = json.loads(payload) if isinstance(payload, str) else payload
            batch.payload_keys = [parse_key(json.dumps(r["dynamodb"]["Keys"]), table) for r in event["Records"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{VAR} {origin} is not a Lambda on-failure record of this table ({type(exc).__name__}: "
                          f"{exc}): give the records as Lambda wrote them (DDBStreamBatchInfo)") from None  # fmt: skip
    return batch


def owner(batch: Batch, count: int) -> int:
    """The worker (0..count-1) that handles `batch`: a hash of its identity, the same in every worker and run."""
    digest = hashlib.sha256(f"{batch.shard}|{batch.start}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def stream_keys(streams: Any, batch: Batch, table: TableInfo) -> list[Key] | None:
    """The keys of the batch's records read back from the stream, or None when the stream no longer holds them. Each
    batch takes a fresh iterator and reads it at once, well inside an iterator's 15 minutes."""
    start, end = int(batch.start), int(batch.end)
    keys: list[Key] = []
    try:
        it = streams.get_shard_iterator(StreamArn=batch.stream_arn, ShardId=batch.shard,
                                        ShardIteratorType="AT_SEQUENCE_NUMBER",
                                        SequenceNumber=batch.start).get("ShardIterator")  # fmt: skip
        first, empty = True, 0
        while it and empty < _EMPTY_PAGES:
            page = streams.get_records(ShardIterator=it, Limit=1000)
            records = page.get("Records", [])
            empty = 0 if records else empty + 1
            for record in records:
                number = int(record["dynamodb"]["SequenceNumber"])
                if first and number != start:
                    return None  # the batch's first record is gone
                first = False
                if number > end:
                    return keys
                keys.append({name: record["dynamodb"]["Keys"][name] for name in table.key_names})
                if number == end:
                    return keys
            it = page.get("NextShardIterator")
    except (ClientError, BotoCoreError) as exc:
        if error_code(exc) in GONE:
            return None
        raise as_rerun_error(exc, "DynamoDB Streams", f"reading shard {batch.shard}") from None
    return None  # the shard ended, or stayed empty, before the batch's last record
