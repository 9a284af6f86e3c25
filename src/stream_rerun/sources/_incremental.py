"""Incremental exports, requested by the worker: point-in-time recovery's window, the plan of exports for a window
of changes, the idempotent request, and the wait. No source here: time_window.py uses it, and any source that needs
the items changed in a window can (`export_window(client, table_arn, window, s3_uri, token)`).

What DynamoDB does (API_ExportTableToPointInTime, API_IncrementalExportSpecification, API_DescribeExport,
API_ListExports, API_DescribeContinuousBackups): an incremental export needs point-in-time recovery on, covers
[ExportFromTime, ExportToTime) inside [EarliestRestorableDateTime, LatestRestorableDateTime], lasts 15 minutes to 24
hours, and a ClientToken makes the request idempotent for 8 hours; after that the same token starts a new export, so
the finished one is found first by listing the table's exports and reading each one's ClientToken.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from stream_rerun.errors import ConfigError, RunAbortedError, as_rerun_error, aws_call, error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

MIN_WINDOW = timedelta(minutes=15)
MAX_WINDOW = timedelta(hours=24)
MAX_POLL_S = 15.0  # DescribeExport at most this far apart while waiting


@dataclass(frozen=True)
class Window:
    """[start, end): changes from `start` (inclusive) to `end` (exclusive), DynamoDB's clock."""

    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


@dataclass(frozen=True)
class Recovery:
    """Point-in-time recovery's restorable window (DescribeContinuousBackups)."""

    earliest: datetime
    latest: datetime


def recovery(client: DynamoDBClient, table: str) -> Recovery:
    """The table's restorable window; ConfigError when point-in-time recovery is off."""
    answer = aws_call(client.describe_continuous_backups, "DynamoDB", "reading point-in-time recovery (preflight)",
                      TableName=table)  # fmt: skip
    pitr = answer["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription") or {}
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        raise ConfigError(f"CHANGED_FROM needs point-in-time recovery on table '{table}', and it is off: enable it "
                          "(UpdateContinuousBackups, or Terraform's point_in_time_recovery) and choose a window that "
                          "starts after that")  # fmt: skip
    return Recovery(pitr["EarliestRestorableDateTime"], pitr["LatestRestorableDateTime"])


def plan(window: Window, restorable: Recovery) -> list[Window]:
    """The exports `window` needs: consecutive ones of at most 24 hours (none shorter than 15 minutes). A window
    shorter than 15 minutes is widened to 15 minutes, later if it can be, earlier if it must (logged)."""
    start, end = window.start, window.end
    if end - start < MIN_WINDOW:
        end = min(start + MIN_WINDOW, restorable.latest)
        start = min(start, end - MIN_WINDOW)
        if start < restorable.earliest:
            shown = f"[{restorable.earliest.isoformat()}, {restorable.latest.isoformat()}]"
            raise ConfigError(f"CHANGED_FROM/CHANGED_TO {window} is shorter than an incremental export's 15 minutes, "
                              "and point-in-time recovery does not cover 15 minutes around it: choose a window of 15 "
                              f"minutes inside {shown}")  # fmt: skip
        log.warning("window widened to 15 minutes", extra={"event": "window_widened", "asked": str(window),
                                                            "exported": str(Window(start, end))})  # fmt: skip
    parts: list[Window] = []
    while start < end:
        stop = min(start + MAX_WINDOW, end)
        if stop < end and end - stop < MIN_WINDOW:  # leave the last export its 15 minutes
            stop = end - MIN_WINDOW
        parts.append(Window(start, stop))
        start = stop
    return parts


def client_token(run_id: str, table_arn: str, asked: str, s3_uri: str) -> str:
    """The ClientToken of one export of a run, from what the run asked for (`asked`: the window as the settings give
    it, and which export of it), not from times computed at run time: every task and every resume of the run asks
    for the same export, and the first request pins it."""
    text = "|".join((run_id, table_arn, asked, s3_uri))
    return "rerun-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def split_uri(s3_uri: str) -> tuple[str, str]:
    """s3://bucket/prefix/ as (bucket, prefix without the trailing /)."""
    bucket, _, prefix = s3_uri.removeprefix("s3://").partition("/")
    return bucket, prefix.rstrip("/")


def export_window(client: DynamoDBClient, table_arn: str, window: Window, s3_uri: str, token: str) -> str:
    """The ARN of the incremental export (NEW_IMAGE, DYNAMODB_JSON) of `window` to `s3_uri` made with `token`: the
    one already made (found by ListExports + DescribeExport: a token is idempotent for 8 hours only), else requested."""
    found = find_export(client, table_arn, token)
    if found is not None:
        log.info("export found", extra={"event": "export_found", "export_arn": found, "window": str(window)})
        return found
    bucket, prefix = split_uri(s3_uri)
    request: dict[str, Any] = {
        "TableArn": table_arn, "ClientToken": token, "S3Bucket": bucket, "ExportFormat": "DYNAMODB_JSON",
        "ExportType": "INCREMENTAL_EXPORT",
        "IncrementalExportSpecification": {"ExportFromTime": window.start, "ExportToTime": window.end,
                                           "ExportViewType": "NEW_IMAGE"},
    }  # fmt: skip
    if prefix:
        request["S3Prefix"] = prefix
    try:
        answer = client.export_table_to_point_in_time(**request)
    except ClientError as exc:
        # another task of the run asked first, for a window ending a moment earlier (CHANGED_TO defaulted): theirs
        found = find_export(client, table_arn, token) if error_code(exc) == "ExportConflictException" else None
        if found is None:
            raise as_rerun_error(exc, "DynamoDB", "requesting an incremental export") from None
        log.info("export found", extra={"event": "export_found", "export_arn": found, "window": str(window)})
        return found
    except BotoCoreError as exc:
        raise as_rerun_error(exc, "DynamoDB", "requesting an incremental export") from None
    arn = str(answer["ExportDescription"]["ExportArn"])
    log.info("export requested", extra={"event": "export_requested", "export_arn": arn, "window": str(window)})
    return arn


def find_export(client: DynamoDBClient, table_arn: str, token: str) -> str | None:
    """The table's incremental export made with `token` and not failed, if any."""
    params: dict[str, Any] = {"TableArn": table_arn}
    while True:
        page = aws_call(client.list_exports, "DynamoDB", "listing the table's exports", **params)
        for summary in page.get("ExportSummaries", []):
            if summary.get("ExportType", "INCREMENTAL_EXPORT") != "INCREMENTAL_EXPORT":
                continue
            if summary.get("ExportStatus") == "FAILED":
                continue
            desc = describe_export(client, summary["ExportArn"])
            if desc.get("ClientToken") == token:
                return str(desc["ExportArn"])
        if not page.get("NextToken"):
            return None
        params["NextToken"] = page["NextToken"]


def describe_export(client: DynamoDBClient, arn: str) -> dict[str, Any]:
    answer = aws_call(client.describe_export, "DynamoDB", "reading an export's status", ExportArn=arn)
    return dict(answer["ExportDescription"])


def wait(
    client: DynamoDBClient,
    arns: list[str],
    max_wait_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[dict[str, Any]]:
    """Every export's description once all are COMPLETED, logging their status on a progress line at each look.
    RunAbortedError (exit 1) naming the export when one failed, or is unfinished after `max_wait_s`."""
    started, delay = clock(), 1.0
    while True:
        descriptions = [describe_export(client, arn) for arn in arns]
        for desc in descriptions:
            if desc.get("ExportStatus") == "FAILED":
                raise RunAbortedError(f"export {desc['ExportArn']} failed ({desc.get('FailureCode')}: "
                                      f"{desc.get('FailureMessage')}): fix the cause and run again with a new "
                                      "RUN_ID (this one's token names the failed export)")  # fmt: skip
        waiting = [d for d in descriptions if d.get("ExportStatus") != "COMPLETED"]
        waited = clock() - started
        if not waiting:
            return descriptions
        log.info("progress", extra={"event": "progress", "export_status": waiting[0].get("ExportStatus"),
                                    "export_arn": waiting[0]["ExportArn"], "exports_waiting": len(waiting),
                                    "exports": len(arns), "export_waited_s": round(waited, 1)})  # fmt: skip
        if waited >= max_wait_s:
            raise RunAbortedError(f"export {waiting[0]['ExportArn']} is still {waiting[0].get('ExportStatus')} after "
                                  f"MAX_EXPORT_WAIT_SECONDS={max_wait_s:g}: run again with the same RUN_ID, which "
                                  "reuses it (or raise MAX_EXPORT_WAIT_SECONDS)")  # fmt: skip
        sleep(min(delay, max(max_wait_s - waited, 0.0)))
        delay = min(delay * 2, MAX_POLL_S)


def window_of(desc: dict[str, Any]) -> Window:
    """The window an export covers (DescribeExport's IncrementalExportSpecification)."""
    spec = desc["IncrementalExportSpecification"]
    return Window(spec["ExportFromTime"], spec["ExportToTime"])


def folder_of(desc: dict[str, Any]) -> str:
    """The export's folder, s3://bucket/<prefix>/AWSDynamoDB/<export-id>/ (ExportManifest names its summary)."""
    manifest = desc.get("ExportManifest")
    if manifest:
        return f"s3://{desc['S3Bucket']}/{manifest.rpartition('/')[0]}/"
    prefix = desc.get("S3Prefix", "").rstrip("/")
    export_id = str(desc["ExportArn"]).rpartition("/")[2]
    return f"s3://{desc['S3Bucket']}/{prefix + '/' if prefix else ''}AWSDynamoDB/{export_id}/"
