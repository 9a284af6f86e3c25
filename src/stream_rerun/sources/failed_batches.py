"""FAILED_BATCHES_FROM: the batches a Lambda consumer of the table's stream failed, as its on-failure destination
recorded them (Lambda Developer Guide, "Retaining discarded records for a DynamoDB event source in Lambda",
https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html). The selection is the union of the keys
of every batch named, each key once.

    https://sqs.<region>.amazonaws.com/<account>/<queue>   the on-failure queue (a loopback http://127.0.0.1:<port>/
                                                           <account>/<queue> too, for an endpoint in AWS_ENDPOINT_URL)
    s3://bucket/prefix/                                    Lambda's S3 on-failure objects, one record each
    a local path or s3://bucket/key                        JSON Lines, one record (or SQS message with its Body) a line

A record's `DDBStreamBatchInfo` names the batch (shardId, startSequenceNumber, endSequenceNumber, streamArn). Its
keys come from the record's `payload` (S3 destinations include the invocation's event) where present, else from
the stream itself: GetShardIterator AT_SEQUENCE_NUMBER at the start, GetRecords until past the end. A batch whose
records the stream no longer holds (trimmed after 24 hours, an old stream gone, records missing) falls back to an
incremental export of its arrival window, with EXPORT_S3_URI and point-in-time recovery (_batch_exports.py): every
item changed in that window, a superset of the batch, counted `batches_resolved_by_export`. Without them it is
unresolved: logged with its shard and range, counted, and the run's exit code is 1. Preflight (exit 2): a record of
another table's stream, a malformed record, a key that is not the table's.

With WORKER_COUNT N, each batch belongs to one worker: the one its identity (shard id and start sequence number)
hashes to. Every worker reads every record (so each refuses the same bad input) and keeps its own batches; from a
queue, it makes every other worker's message visible again at once, never deleting it (sqs.Queue.receive_all).

From a queue, with DELETE_SETTLED_MESSAGES=true, a message is deleted once every key of its batch has settled
(touched, already_done, vanished, filtered_out); every other message is made visible again when the run ends.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from stream_rerun.errors import ConfigError, RerunError, as_rerun_error
from stream_rerun.keys import Key, in_pages
from stream_rerun.sources._base import PAGE_SIZE, Context, Kind, Report, described, worker_label
from stream_rerun.sources._batch_exports import ExportFallback
from stream_rerun.sources._failure_records import VAR, Batch, key_id, owner, parse_record, stream_keys
from stream_rerun.sources._files import opener
from stream_rerun.sources._sqs import Message, Queue

if TYPE_CHECKING:
    from stream_rerun.config import Settings

log = logging.getLogger(__name__)

SQS_URL = re.compile(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(\d{12})/([A-Za-z0-9_-]{1,80})$")
LOOPBACK_URL = re.compile(r"^http://(?:127\.0\.0\.1|localhost)(?::\d+)?/(\d{12})/([A-Za-z0-9_-]{1,80})$")
STREAM_ARN = re.compile(r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d+:table/([A-Za-z0-9_.-]{3,255})/stream/.+$")
SETTLED = frozenset({"touched", "already_done", "vanished", "filtered_out"})


def check_settings(settings: Settings) -> None:
    """FAILED_BATCHES_FROM's form, and DELETE_SETTLED_MESSAGES only with a queue. Raises ValueError."""
    given = settings.failed_batches_from
    if settings.delete_settled_messages and not (given and is_queue(given)):
        raise ValueError("DELETE_SETTLED_MESSAGES=true deletes messages of an SQS queue: set FAILED_BATCHES_FROM "
                         "to the queue's URL, or unset DELETE_SETTLED_MESSAGES")  # fmt: skip
    if given is None or is_queue(given):
        return
    if given.startswith(("http://", "https://")):
        raise ValueError(f"{VAR} {given!r} is not an SQS queue URL: give https://sqs.<region>.amazonaws.com/"
                         "<account>/<queue>, an s3://bucket/prefix/ or a JSON Lines file")  # fmt: skip
    if given.startswith("s3://") and not all(given[5:].partition("/")[::2]):
        raise ValueError(f"{VAR} {given!r} is not s3://bucket/prefix/ or s3://bucket/key: name the folder or file")


def is_queue(location: str) -> bool:
    return bool(SQS_URL.match(location) or LOOPBACK_URL.match(location))


@dataclass
class FailedBatchesSource:
    """The batches named by FAILED_BATCHES_FROM, resolved to keys in preflight."""

    location: str
    delete_settled: bool
    context: Context
    streams: Callable[[], Any]
    sqs: Callable[[], Any]
    batches: list[Batch] = field(default_factory=list)
    queue: Queue | None = None
    _by_key: dict[str, list[Batch]] = field(default_factory=dict)
    _keys: dict[str, Key] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    index: int = 0  # WORKER_INDEX
    count: int = 1  # WORKER_COUNT
    fallback: ExportFallback | None = None

    @classmethod
    def of(cls, settings: Settings, context: Context) -> FailedBatchesSource:
        from stream_rerun.aws import sqs_client, streams_client  # noqa: PLC0415 - only this source needs them

        assert settings.failed_batches_from is not None
        region = settings.aws_region
        match = SQS_URL.match(settings.failed_batches_from)
        queue_region = match.group(1) if match else region
        fallback = ExportFallback(settings.run_id, settings.export_s3_uri, settings.max_export_wait_seconds, context)
        return cls(settings.failed_batches_from, settings.delete_settled_messages, context,
                   lambda: streams_client(region), lambda: sqs_client(queue_region),
                   index=settings.worker_index, count=settings.worker_count, fallback=fallback)  # fmt: skip

    # ---- preflight ----
    def check(self) -> None:
        try:
            self.batches = list(self._read())
            self._resolve()
        except BaseException:
            self.finish()  # a queue's messages reappear at once
            raise

    def _read(self) -> Iterator[Batch]:
        table = self.context.table
        if is_queue(self.location):
            self.queue = Queue(self.location, self.sqs())
            mine: list[Batch] = []

            def keep(message: Message) -> bool:
                batch = self._checked(parse_record(message.body, f"message {message.message_id}", table))
                batch.message_id = message.message_id
                if owner(batch, self.count) != self.index:
                    return False
                mine.append(batch)
                return True

            self.queue.receive_all(keep, fan_out=self.count > 1)
            yield from mine
            return
        if self.location.startswith("s3://") and self.location.endswith("/"):
            records = ((location, "\n".join(_lines(location, self.context.s3)))
                       for location in _objects_under(self.location, self.context.s3))  # fmt: skip
        else:
            lines = enumerate(_lines(self.location, self.context.s3), start=1)
            records = ((f"{self.location} line {number}", text) for number, text in lines if text.strip())
        for origin, text in records:
            batch = self._checked(parse_record(text, origin, table))
            if owner(batch, self.count) == self.index:
                yield batch

    def _checked(self, batch: Batch) -> Batch:
        """The batch, if it is of this table's stream (every worker checks every record: all refuse alike)."""
        table = self.context.table
        match = STREAM_ARN.match(batch.stream_arn)
        if not match or match.group(1) != table.name:
            raise ConfigError(f"{VAR} {batch.origin} is a batch of stream {batch.stream_arn}, not of table "
                              f"'{table.name}': give the on-failure records of this table's consumer")  # fmt: skip
        return batch

    def _resolve(self) -> None:
        streams = None
        for batch in self.batches:
            keys = batch.payload_keys
            if keys is None:
                streams = streams or self.streams()
                keys = stream_keys(streams, batch, self.context.table)
            if keys is None:
                keys = self._resolve_by_export(batch)
            if keys is None:
                log.error("failed batch not resolved: the stream no longer holds its records",
                          extra={"event": "batch_unresolved", **batch.where()})  # fmt: skip
                continue
            batch.keys = keys
            for key in keys:
                kid = key_id(key)
                batch.waiting.add(kid)
                self._keys.setdefault(kid, key)
                self._by_key.setdefault(kid, []).append(batch)
        for batch in self.batches:
            if batch.keys == []:
                self._settle_batch(batch)  # nothing to touch: settled already

    def _resolve_by_export(self, batch: Batch) -> list[Key] | None:
        """A batch the stream no longer holds: every item changed in its arrival window, from an incremental export
        (a superset of the batch: its own keys are gone with the stream), or None without EXPORT_S3_URI or
        point-in-time recovery (sources/_batch_exports.py)."""
        keys = self.fallback.keys_of(batch.first, batch.last, batch.where()) if self.fallback else None
        batch.by_export = keys is not None
        return keys

    # ---- the run ----
    def pages(self) -> Iterator[list[Key]]:
        return in_pages(iter(list(self._keys.values())), PAGE_SIZE)

    def describe(self) -> dict[str, Any]:
        return described({"failed_batches_from": self.location, "batches": len(self.batches),
                          "delete_settled_messages": self.delete_settled,
                          "worker": worker_label(self.index, self.count)}, len(self._keys))  # fmt: skip

    def settled(self, outcomes: list[tuple[Key, str]]) -> None:
        """The engine's report of keys that ended (touched, already_done, vanished, filtered_out or failed); called
        from the engine's threads."""
        with self._lock:
            self._settled(outcomes)

    def _settled(self, outcomes: list[tuple[Key, str]]) -> None:
        for key, outcome in outcomes:
            for batch in self._by_key.get(key_id(key), []):
                batch.failed = batch.failed or str(outcome) not in SETTLED
                batch.waiting.discard(key_id(key))
                if not batch.waiting:
                    self._settle_batch(batch)

    def _settle_batch(self, batch: Batch) -> None:
        if self.queue and self.delete_settled and batch.message_id and batch.keys is not None and not batch.failed:
            try:
                self.queue.delete(batch.message_id)
            except RerunError as exc:  # the message stays, and reappears: the same RUN_ID fires nothing twice
                log.warning(f"message not deleted: {exc}", extra={"event": "message_kept", **batch.where()})

    def finish(self) -> Report:
        """The run ended: release the queue's messages not deleted; the counters, and why the selection is
        incomplete (unresolved batches make the exit code 1)."""
        if self.queue is not None:
            self.queue.release()
        counts = self.counts()
        unresolved = counts["unresolved_batches"]
        problem = f"{unresolved} failed batches could not be resolved (see batch_unresolved)" if unresolved else None
        return Report(fields=dict(counts), error=RerunError(problem) if problem else None)

    def counts(self) -> dict[str, int]:
        resolved = sum(1 for b in self.batches if b.keys is not None)
        return {"batches_read": len(self.batches), "batches_resolved": resolved,
                "unresolved_batches": len(self.batches) - resolved,
                "batches_resolved_by_export": sum(1 for b in self.batches if b.by_export),
                "messages_deleted": self.queue.deleted if self.queue else 0}  # fmt: skip


def _lines(location: str, s3: Callable[[], Any]) -> Iterator[str]:
    try:
        yield from opener(location, s3)()
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("KEYS_FILE", VAR, 1)) from None


def _objects_under(folder: str, s3: Callable[[], Any]) -> Iterator[str]:
    """The objects under an s3:// folder, by name (Lambda writes one per failed batch)."""
    bucket, _, prefix = folder[5:].partition("/")
    try:
        for page in s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith("/"):  # a console-made folder marker, not a record
                    yield f"s3://{bucket}/{obj['Key']}"
    except (ClientError, BotoCoreError) as exc:
        error = as_rerun_error(exc, "S3", "ListObjectsV2")
        raise ConfigError(f"{VAR} {folder} cannot be listed ({error}): check the URI and the task role's "
                          "s3:ListBucket") from None  # fmt: skip


KIND = Kind({VAR: lambda s: s.failed_batches_from is not None}, FailedBatchesSource.of, check_settings)
