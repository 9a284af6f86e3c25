"""A stand-in for DynamoDB's incremental exports and point-in-time recovery, which DynamoDB Local lacks and moto (5.2)
models for full exports only: a loopback HTTP proxy in front of DynamoDB Local that answers

    ExportTableToPointInTime  (ExportType=INCREMENTAL_EXPORT only; ExportFormat=DYNAMODB_JSON only)
    DescribeExport, ListExports
    DescribeContinuousBackups

and forwards every other request to the emulator unchanged, so a worker (in-process or a real subprocess) pointed
at `endpoint` runs as against DynamoDB. The export is written to S3 on a loopback moto server, built from DynamoDB
Local's OWN stream records of the table in the window: per item its last record in [ExportFromTime, ExportToTime),
a line `{"Metadata": {"WriteTimestampMicros": {"N": ...}}, "Keys": {...}, "NewImage": {...}}`, or without `NewImage`
when that record is a REMOVE (NEW_IMAGE view).

Shapes, from AWS's documentation:
- layout and lines: "DynamoDB table export output format", section "Incremental export output" (DynamoDB Developer
  Guide, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html):
  `<prefix>/AWSDynamoDB/<ExportId>/` holding `_started`, `manifest-summary.json` (`exportType`
  `INCREMENTAL_EXPORT`, `exportFromTime`, `exportToTime`, `outputFormat`, `outputView`, `itemCount`),
  `manifest-files.json` (a line per data file: `itemCount`, `md5Checksum`, `etag`, `dataFileS3Key`) and
  `data/<name>.json.gz`;
- the request's rules: API_ExportTableToPointInTime and API_IncrementalExportSpecification (from inclusive, to
  exclusive; 15 minutes to 24 hours; needs point-in-time recovery; InvalidExportTimeException,
  PointInTimeRecoveryUnavailableException, ExportConflictException for a ClientToken reused with other parameters;
  a ClientToken idempotent for 8 hours), API_DescribeExport, API_ListExports, API_DescribeContinuousBackups.

DynamoDB's clock is the stand-in's: wall time plus `advance()`s, so a test can put hours between two writes without
waiting for them. A stream record is dated by its ApproximateCreationDateTime plus the offset in force when it was
made (records are dated at each `advance()`, before the clock moves); DynamoDB Local's ApproximateCreationDateTime is
to the minute, so are these dates. Point-in-time recovery is on from `enable_pitr(table)` (its minute);
LatestRestorableDateTime is the stand-in's now. A pytest plugin: `incremental_exports` is one in front of the
module's emulator, writing to the module's moto server.

Not modelled: full exports, ION, checksum files, NEW_AND_OLD_IMAGES, S3 bucket owners and KMS, exports' real
duration (an export completes `export_seconds` of wall time after its request), billing sizes, the 5-minute lag of
LatestRestorableDateTime, and more than one stream per table.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlparse

import pytest

from stream_rerun_dev import emulator
from tests.support.loopback import LoopbackServer
from tests.support.s3 import s3_client

MIN_WINDOW = timedelta(minutes=15)
MAX_WINDOW = timedelta(hours=24)
TOKEN_LIFETIME = timedelta(hours=8)
ANSWERED = {"ExportTableToPointInTime", "DescribeExport", "ListExports", "DescribeContinuousBackups"}


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Made:
    """One export: its description (as DescribeExport answers it), when it completes, and what was asked."""

    description: dict[str, Any]
    ready_at: float  # wall clock (time.monotonic)
    asked: tuple[Any, ...]
    requested: datetime  # DynamoDB's clock
    lines: list[dict[str, Any]] = field(default_factory=list)


class IncrementalExports:
    """`with IncrementalExports(emulator_endpoint, s3_endpoint) as standin:` then point the worker's DynamoDB at
    `standin.endpoint` and its S3 at `s3_endpoint`. `requests` counts ExportTableToPointInTime calls, `exports` the
    exports made."""

    def __init__(self, target: str, s3_endpoint: str, export_seconds: float = 0.0, data_files: int = 3,
                 list_page: int = 2) -> None:  # fmt: skip
        self.target = urlparse(target)
        self.endpoint_target = target
        self.client = emulator.ddb(target)
        self.s3 = s3_client(s3_endpoint)
        self.export_seconds, self.data_files, self.list_page = export_seconds, data_files, list_page
        self.offset = timedelta(0)
        self.lock = threading.RLock()
        self.pitr: dict[str, datetime] = {}  # table name: on since (DynamoDB's clock)
        self.stamps: dict[str, datetime] = {}  # stream record eventID: when it was made (DynamoDB's clock)
        self.exports: dict[str, Made] = {}  # by ARN, in order made
        self.tokens: dict[str, str] = {}  # ClientToken: ARN
        self.requests = 0
        self._local = threading.local()
        self.server = LoopbackServer(self._handler(), "incremental-exports")
        self.endpoint = self.server.url

    def __enter__(self) -> IncrementalExports:
        self.server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.close()

    # ---- DynamoDB's clock ----
    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def enable_pitr(self, table: str) -> datetime:
        """Point-in-time recovery on from now (DynamoDB's clock), which is returned."""
        with self.lock:
            self._date(table)
            self.pitr[table] = self.now().replace(second=0, microsecond=0)  # stream records are dated to the minute
            return self.pitr[table]

    def advance(self, delta: timedelta) -> datetime:
        """Move DynamoDB's clock on by `delta`, after dating every record so far; returns the new now."""
        with self.lock:
            for table in self.pitr:
                self._date(table)
            self.offset += delta
            return self.now()

    def _date(self, table: str) -> list[dict[str, Any]]:
        """The table's stream records, each dated (those not seen before, with the offset in force now)."""
        records = emulator.stream_records(self.endpoint_target, self.client, table)
        for record in records:
            made = record["dynamodb"]["ApproximateCreationDateTime"]
            self.stamps.setdefault(record["eventID"], made.astimezone(UTC) + self.offset)
        return records

    # ---- HTTP ----
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                if operation in ANSWERED:
                    status, out = standin.answer(operation, json.loads(body or b"{}"))
                    ctype = "application/x-amz-json-1.0"
                else:
                    status, out, ctype = standin.forward(body, dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        return Handler

    def forward(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=30)
        keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection", "content-length")}
        conn.request("POST", "/", body=body, headers=keep)
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "application/x-amz-json-1.0")

    def answer(self, operation: str, request: dict[str, Any]) -> tuple[int, bytes]:
        try:
            with self.lock:
                payload = getattr(self, "_" + operation)(request)
        except Refused as exc:
            error = {"__type": f"com.amazonaws.dynamodb.v20120810#{exc.code}", "message": exc.message}
            return 400, json.dumps(error).encode()
        return 200, json.dumps(payload, default=_epoch).encode()

    # ---- the operations ----
    def _DescribeContinuousBackups(self, request: dict[str, Any]) -> dict[str, Any]:
        table = request["TableName"]
        self._table_arn(table)
        since = self.pitr.get(table)
        pitr: dict[str, Any] = {"PointInTimeRecoveryStatus": "ENABLED" if since else "DISABLED"}
        if since:
            pitr.update(EarliestRestorableDateTime=since, LatestRestorableDateTime=self.now(), RecoveryPeriodInDays=35)
        return {"ContinuousBackupsDescription": {"ContinuousBackupsStatus": "ENABLED",
                                                 "PointInTimeRecoveryDescription": pitr}}  # fmt: skip

    def _ExportTableToPointInTime(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        table_arn = request["TableArn"]
        table = table_arn.rpartition("/")[2]
        if self._table_arn(table) != table_arn:
            raise Refused("TableNotFoundException", f"Table not found: {table_arn}")
        if (
            request.get("ExportType") != "INCREMENTAL_EXPORT"
            or request.get("ExportFormat", "DYNAMODB_JSON") != "DYNAMODB_JSON"
        ):
            raise Refused("ValidationException", "the stand-in makes DYNAMODB_JSON incremental exports only")
        spec = request.get("IncrementalExportSpecification") or {}
        start, end = _time(spec["ExportFromTime"]), _time(spec["ExportToTime"])
        view = spec.get("ExportViewType", "NEW_AND_OLD_IMAGES")
        asked = (table_arn, request["S3Bucket"], request.get("S3Prefix", ""), start, end, view)
        token = request.get("ClientToken") or uuid.uuid4().hex
        known = self.tokens.get(token)
        if known is not None and self.now() - self.exports[known].requested < TOKEN_LIFETIME:
            if self.exports[known].asked != asked:
                raise Refused("ExportConflictException", "ClientToken reused with other parameters")
            return {"ExportDescription": self._description(known)}
        self._check_window(table, start, end)
        if view != "NEW_IMAGE":
            raise Refused("ValidationException", "the stand-in models ExportViewType=NEW_IMAGE only")
        arn = self._make(table, asked, token)
        return {"ExportDescription": self._description(arn)}

    def _DescribeExport(self, request: dict[str, Any]) -> dict[str, Any]:
        if request["ExportArn"] not in self.exports:
            raise Refused("ExportNotFoundException", f"Export not found: {request['ExportArn']}")
        return {"ExportDescription": self._description(request["ExportArn"])}

    def _ListExports(self, request: dict[str, Any]) -> dict[str, Any]:
        arns = [
            a
            for a, m in self.exports.items()
            if m.description["TableArn"] == request.get("TableArn", m.description["TableArn"])
        ]
        start = int(request.get("NextToken", "0"))
        page = arns[start : start + self.list_page]
        summaries = [{k: self._description(a)[k] for k in ("ExportArn", "ExportStatus", "ExportType")} for a in page]
        more = start + self.list_page < len(arns)
        return {"ExportSummaries": summaries, **({"NextToken": str(start + self.list_page)} if more else {})}

    # ---- making an export ----
    def _table_arn(self, table: str) -> str:
        try:
            return str(self.client.describe_table(TableName=table)["Table"]["TableArn"])
        except self.client.exceptions.ResourceNotFoundException:
            raise Refused("TableNotFoundException", f"Table not found: {table}") from None

    def _check_window(self, table: str, start: datetime, end: datetime) -> None:
        since = self.pitr.get(table)
        if since is None:
            raise Refused(
                "PointInTimeRecoveryUnavailableException", f"Point in time recovery is not enabled for {table}"
            )
        if not start < end or not MIN_WINDOW <= end - start <= MAX_WINDOW:
            raise Refused("InvalidExportTimeException", "the export window must be 15 minutes to 24 hours")
        if start < since or end > self.now():
            raise Refused("InvalidExportTimeException", "the export window is outside the restorable window")

    def _make(self, table: str, asked: tuple[Any, ...], token: str) -> str:
        table_arn, bucket, prefix, start, end, view = asked
        export_id = f"{int(time.time() * 1000):014d}-{uuid.uuid4().hex[:8]}"
        arn = f"{table_arn}/export/{export_id}"
        base = f"{prefix.rstrip('/') + '/' if prefix else ''}AWSDynamoDB/{export_id}/"
        lines = self._lines(table, start, end)
        description = {
            "ExportArn": arn, "ExportStatus": "IN_PROGRESS", "TableArn": table_arn, "ClientToken": token,
            "S3Bucket": bucket, "S3Prefix": prefix, "ExportFormat": "DYNAMODB_JSON", "ExportType": "INCREMENTAL_EXPORT",
            "ExportManifest": base + "manifest-summary.json", "StartTime": self.now(), "ItemCount": len(lines),
            "IncrementalExportSpecification": {"ExportFromTime": start, "ExportToTime": end, "ExportViewType": view},
        }  # fmt: skip
        made = Made(description, time.monotonic() + self.export_seconds, asked, self.now(), lines)
        self.exports[arn] = made
        self.tokens[token] = arn
        try:
            self._write(bucket, base, made)
        except self.s3.exceptions.NoSuchBucket:
            description.update(ExportStatus="FAILED", FailureCode="S3NoSuchBucket", FailureMessage="no such bucket")
        return arn

    def _lines(self, table: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Per item, its last stream record in [start, end), as an export line."""
        last: dict[str, dict[str, Any]] = {}
        for record in self._date(table):
            made = self.stamps[record["eventID"]]
            if start <= made < end:
                key = json.dumps(record["dynamodb"]["Keys"], sort_keys=True)
                last[key] = record  # a key's records are in one shard, in order
        lines = []
        for record in last.values():
            micros = int(self.stamps[record["eventID"]].timestamp() * 1_000_000)
            line: dict[str, Any] = {"Metadata": {"WriteTimestampMicros": {"N": str(micros)}},
                                    "Keys": record["dynamodb"]["Keys"]}  # fmt: skip
            if record["eventName"] != "REMOVE":
                line["NewImage"] = record["dynamodb"]["NewImage"]
            lines.append(line)
        return lines

    def _write(self, bucket: str, base: str, made: Made) -> None:
        self.s3.put_object(Bucket=bucket, Key=base + "_started", Body=b"")
        files: list[list[str]] = [[] for _ in range(self.data_files)]
        for line in made.lines:  # as DynamoDB: a file per partition of the hashed key space
            files[_partition(line["Keys"], self.data_files)].append(json.dumps(line, default=_plain))
        manifest = []
        for number, lines in enumerate(files):
            key = f"{base}data/{hashlib.sha1(f'{base}{number}'.encode()).hexdigest()[:26]}.json.gz"  # noqa: S324
            self.s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress("".join(t + "\n" for t in lines).encode()))
            manifest.append({"itemCount": len(lines), "md5Checksum": "", "etag": "", "dataFileS3Key": key})
        spec = made.description["IncrementalExportSpecification"]
        summary = {
            "version": "2023-08-01", "exportArn": made.description["ExportArn"],
            "startTime": made.description["StartTime"], "endTime": made.description["StartTime"],
            "tableArn": made.description["TableArn"], "exportFromTime": spec["ExportFromTime"],
            "exportToTime": spec["ExportToTime"], "s3Bucket": bucket, "s3Prefix": made.description["S3Prefix"],
            "s3SseAlgorithm": "AES256", "s3SseKmsKeyId": None, "manifestFilesS3Key": base + "manifest-files.json",
            "billedSizeBytes": 0, "itemCount": len(made.lines), "outputFormat": "DYNAMODB_JSON",
            "outputView": "NEW_IMAGE", "exportType": "INCREMENTAL_EXPORT",
        }  # fmt: skip
        self.s3.put_object(Bucket=bucket, Key=base + "manifest-files.json",
                           Body="".join(json.dumps(m) + "\n" for m in manifest).encode())  # fmt: skip
        self.s3.put_object(Bucket=bucket, Key=base + "manifest-summary.json",
                           Body=json.dumps(summary, default=_iso).encode())  # fmt: skip

    def _description(self, arn: str) -> dict[str, Any]:
        made = self.exports[arn]
        if made.description["ExportStatus"] == "IN_PROGRESS" and time.monotonic() >= made.ready_at:
            made.description.update(ExportStatus="COMPLETED", EndTime=self.now())
        return dict(made.description)


@pytest.fixture
def incremental_exports(endpoint: str, s3_endpoint: str) -> Iterator[IncrementalExports]:
    with IncrementalExports(endpoint, s3_endpoint) as standin:
        yield standin


def _partition(keys: dict[str, Any], count: int) -> int:
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True, default=_plain).encode()).hexdigest()
    return int(digest, 16) % count


def _time(value: Any) -> datetime:
    """A timestamp as botocore sends it in JSON (epoch seconds)."""
    return datetime.fromtimestamp(float(value), UTC)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(type(value).__name__)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(type(value).__name__)


def _plain(value: Any) -> Any:
    """Stream records as boto3 returns them: binary attributes are bytes (exports hold them as base64)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)
