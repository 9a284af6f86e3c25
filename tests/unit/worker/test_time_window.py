"""The time-window selection without a network: its settings, the plan of exports, the ClientToken, the wait."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stream_rerun import sources
from stream_rerun.config import Settings, _one_line
from stream_rerun.errors import ConfigError, RunAbortedError
from stream_rerun.sources import _incremental
from stream_rerun.sources._incremental import Recovery, Window
from stream_rerun.sources.time_window import TimeWindowSource
from stream_rerun.table import TableInfo

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
WIDE = Recovery(T0 - 100 * H, T0 + 100 * H)
TABLE = TableInfo("orders", ("pk", "sk"), {"pk": "S", "sk": "S"}, {}, "dynamodb:NEW_AND_OLD_IMAGES", 0, 0)


def settings(**env: str) -> Settings:
    return Settings.model_validate({"table_name": "orders", "AWS_REGION": "eu-west-1", **env})


WINDOW = {"changed_from": "2026-11-27T02:10:00Z", "export_s3_uri": "s3://bucket/exports/"}


def test_changed_from_chooses_the_time_window_source() -> None:
    assert type(sources.source_for(settings(**WINDOW), TABLE, None, lambda: None)) is TimeWindowSource  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"changed_to": "2026-11-27T03:00:00Z", "hash_key_value": "c"}, "CHANGED_TO needs CHANGED_FROM"),
        ({**WINDOW, "changed_to": "2026-11-27T03:10:00+01:00"}, "is not before CHANGED_TO"),
        ({**WINDOW, "hash_key_value": "c"}, "exactly one selection is needed (found: HASH_KEY_VALUE, CHANGED_FROM)"),
        ({"hash_key_value": "c", "removed_keys_out": "/tmp/x"}, "REMOVED_KEYS_OUT lists items deleted"),
        ({**WINDOW, "removed_keys_out": "s3://bucket"}, "REMOVED_KEYS_OUT 's3://bucket' is not s3://bucket/key"),
        ({**WINDOW, "export_s3_uri": "bucket/exports/"}, "EXPORT_S3_URI='bucket/exports/' is invalid"),
        ({**WINDOW, "max_export_wait_seconds": "0"}, "MAX_EXPORT_WAIT_SECONDS='0' is invalid"),
    ],
)
def test_bad_window_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(Exception) as caught:
        settings(**env)
    assert message in _one_line(caught.value)  # type: ignore[arg-type]


def test_a_fan_out_may_share_a_window() -> None:
    assert settings(**WINDOW, worker_count="3", worker_index="2").worker_count == 3


def test_a_window_over_24_hours_becomes_consecutive_exports_none_under_15_minutes() -> None:
    parts = _incremental.plan(Window(T0, T0 + 48 * H + timedelta(minutes=5)), WIDE)
    assert [(p.start, p.end) for p in parts] == [
        (T0, T0 + 24 * H),
        (T0 + 24 * H, T0 + 48 * H - timedelta(minutes=10)),
        (T0 + 48 * H - timedelta(minutes=10), T0 + 48 * H + timedelta(minutes=5)),
    ]
    assert _incremental.plan(Window(T0, T0 + 24 * H), WIDE) == [Window(T0, T0 + 24 * H)]


def test_a_window_under_15_minutes_is_widened_later_or_earlier_and_logged(caplog: Any) -> None:
    assert _incremental.plan(Window(T0, T0 + timedelta(minutes=5)), WIDE) == [Window(T0, T0 + timedelta(minutes=15))]
    assert any(r.getMessage() == "window widened to 15 minutes" for r in caplog.records)
    near_latest = Recovery(T0 - H, T0 + timedelta(minutes=5))
    assert _incremental.plan(Window(T0, T0 + timedelta(minutes=5)), near_latest) == [
        Window(T0 - timedelta(minutes=10), T0 + timedelta(minutes=5))
    ]
    with pytest.raises(ConfigError, match="shorter than an incremental export's 15 minutes"):
        _incremental.plan(Window(T0, T0 + timedelta(minutes=5)), Recovery(T0, T0 + timedelta(minutes=5)))


def test_the_client_token_is_the_runs_and_what_it_asked_for() -> None:
    token = _incremental.client_token("run-1", "arn:t", "2026-11-27T02:10:00+00:00|latest|0", "s3://b/p/")
    assert token == _incremental.client_token("run-1", "arn:t", "2026-11-27T02:10:00+00:00|latest|0", "s3://b/p/")
    others = [("run-2", "arn:t", "2026-11-27T02:10:00+00:00|latest|0", "s3://b/p/"),
              ("run-1", "arn:u", "2026-11-27T02:10:00+00:00|latest|0", "s3://b/p/"),
              ("run-1", "arn:t", "2026-11-27T02:10:00+00:00|latest|1", "s3://b/p/"),
              ("run-1", "arn:t", "2026-11-27T02:10:00+00:00|2026-11-27T04:00:00+00:00|0", "s3://b/p/"),
              ("run-1", "arn:t", "2026-11-27T02:10:00+00:00|latest|0", "s3://b/q/")]  # fmt: skip
    assert token not in {_incremental.client_token(*o) for o in others}
    assert len(token) <= 64 and "$" not in token


class Exports:
    """DescribeExport answering a list of statuses in turn."""

    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses

    def describe_export(self, ExportArn: str) -> dict[str, Any]:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"ExportDescription": {"ExportArn": ExportArn, "ExportStatus": status, "FailureCode": "X"}}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_wait_ends_when_done_or_names_the_export_when_over_time_or_failed(caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="stream_rerun")
    clock, exports = Clock(), Exports(["IN_PROGRESS", "IN_PROGRESS", "COMPLETED"])
    done = _incremental.wait(exports, ["arn:e1"], 60, clock.sleep, clock)  # type: ignore[arg-type]
    assert done[0]["ExportStatus"] == "COMPLETED" and clock.now == 3.0  # looked at 0, 1 and 3 s
    assert [r.__dict__.get("export_status") for r in caplog.records if r.getMessage() == "progress"] == [
        "IN_PROGRESS"
    ] * 2
    clock = Clock()
    with pytest.raises(RunAbortedError, match="export arn:e2 is still IN_PROGRESS after MAX_EXPORT_WAIT_SECONDS=10"):
        _incremental.wait(Exports(["IN_PROGRESS"]), ["arn:e2"], 10, clock.sleep, clock)  # type: ignore[arg-type]
    with pytest.raises(RunAbortedError, match="export arn:e3 failed"):
        _incremental.wait(Exports(["FAILED"]), ["arn:e3"], 10, clock.sleep, clock)  # type: ignore[arg-type]


class Conflicting:
    """Another task asked first with the same token for a window ending a moment earlier."""

    def __init__(self) -> None:
        self.listed = 0

    def list_exports(self, TableArn: str, **_: Any) -> dict[str, Any]:
        self.listed += 1
        summary = {"ExportArn": "arn:theirs", "ExportStatus": "IN_PROGRESS", "ExportType": "INCREMENTAL_EXPORT"}
        return {"ExportSummaries": [summary] if self.listed > 1 else []}

    def describe_export(self, ExportArn: str) -> dict[str, Any]:
        return {"ExportDescription": {"ExportArn": ExportArn, "ClientToken": "tok"}}

    def export_table_to_point_in_time(self, **_: Any) -> dict[str, Any]:
        error = {"Error": {"Code": "ExportConflictException", "Message": "token reused"}}
        raise ClientError(error, "ExportTableToPointInTime")  # type: ignore[arg-type]


def test_a_request_that_conflicts_with_the_runs_own_token_takes_the_export_already_made() -> None:
    arn = _incremental.export_window(Conflicting(), "arn:t", Window(T0, T0 + H), "s3://b/p/", "tok")  # type: ignore[arg-type]
    assert arn == "arn:theirs"
    with pytest.raises(RunAbortedError, match="ExportConflictException"):
        _incremental.export_window(Conflicting(), "arn:t", Window(T0, T0 + H), "s3://b/p/", "other")  # type: ignore[arg-type]


def test_the_export_folder_comes_from_its_manifest_or_its_arn() -> None:
    manifest = {"S3Bucket": "b", "ExportManifest": "p/AWSDynamoDB/01-x/manifest-summary.json", "ExportArn": "a"}
    assert _incremental.folder_of(manifest) == "s3://b/p/AWSDynamoDB/01-x/"
    bare = {"S3Bucket": "b", "S3Prefix": "p/", "ExportArn": "arn:aws:dynamodb:r:1:table/t/export/01-y"}
    assert _incremental.folder_of(bare) == "s3://b/p/AWSDynamoDB/01-y/"
