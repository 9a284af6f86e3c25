"""The incremental-export stand-in (tests/support/incremental_export.py) against DynamoDB Local: the export holds
each item's last state in the window from the emulator's own stream, in AWS's layout; the request follows AWS's rules;
everything else passes through to the emulator."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stream_rerun_dev import emulator
from tests.support.incremental_export import IncrementalExports
from tests.support.items import item
from tests.support.s3 import s3_client

HOUR = timedelta(hours=1)


def client(standin: IncrementalExports) -> Any:
    return boto3.client("dynamodb", endpoint_url=standin.endpoint, **emulator.DUMMY_CREDENTIALS)


def request(ddb: Any, table: str, bucket: str, start: Any, end: Any, token: str = "t-1") -> dict[str, Any]:  # noqa: S107
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    return ddb.export_table_to_point_in_time(  # type: ignore[no-any-return]
        TableArn=arn, S3Bucket=bucket, S3Prefix="exp", ClientToken=token, ExportFormat="DYNAMODB_JSON",
        ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification={"ExportFromTime": start, "ExportToTime": end, "ExportViewType": "NEW_IMAGE"},
    )["ExportDescription"]  # fmt: skip


def test_the_export_holds_each_items_last_state_in_the_window_in_aws_layout(
    ddb: Any, make_table: Any, bucket: Any, incremental_exports: IncrementalExports, s3_endpoint: str
) -> None:
    standin, ours = incremental_exports, client(incremental_exports)
    table = make_table()
    # GIVEN a write before the window, three in it (a put, an update, a delete) and one after
    t0 = standin.enable_pitr(table)
    emulator.put_items(ddb, table, [item("a", "1", v=1), item("a", "2", v=1)])
    standin.advance(HOUR)
    ddb.put_item(TableName=table, Item=item("b", "1", v=1))
    ddb.put_item(TableName=table, Item=item("a", "1", v=2))
    ddb.delete_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "2"}})
    standin.advance(HOUR)
    ddb.put_item(TableName=table, Item=item("b", "1", v=3))
    standin.advance(HOUR)
    name = bucket({})
    # WHEN the middle hour is exported
    made = request(ours, table, name, t0 + HOUR / 2, t0 + HOUR * 3 / 2)
    # THEN the manifests and data files are where AWS puts them, and the lines are the window's last states
    base = made["ExportManifest"].rpartition("/")[0] + "/"
    s3 = s3_client(s3_endpoint)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=name, Prefix=base)["Contents"]}
    assert {base + "_started", base + "manifest-summary.json", base + "manifest-files.json"} <= keys
    summary = json.loads(s3.get_object(Bucket=name, Key=base + "manifest-summary.json")["Body"].read())
    assert summary["exportType"] == "INCREMENTAL_EXPORT" and summary["outputView"] == "NEW_IMAGE"
    assert summary["itemCount"] == 3 and base.startswith("exp/AWSDynamoDB/")
    files = [
        json.loads(line) for line in s3.get_object(Bucket=name, Key=base + "manifest-files.json")["Body"].iter_lines()
    ]
    data = [gzip.decompress(s3.get_object(Bucket=name, Key=f["dataFileS3Key"])["Body"].read()) for f in files]
    lines = [json.loads(text) for body in data for text in body.decode().splitlines()]
    assert sum(f["itemCount"] for f in files) == len(lines) == 3
    by_key = {(line["Keys"]["pk"]["S"], line["Keys"]["sk"]["S"]): line for line in lines}
    assert by_key[("a", "1")]["NewImage"]["v"] == {"N": "2"} and by_key[("b", "1")]["NewImage"]["v"] == {"N": "1"}
    assert "NewImage" not in by_key[("a", "2")] and "WriteTimestampMicros" in by_key[("a", "2")]["Metadata"]
    # AND it completes, is listed for the table, and other operations pass through to the emulator
    assert ours.describe_export(ExportArn=made["ExportArn"])["ExportDescription"]["ExportStatus"] == "COMPLETED"
    listed = ours.list_exports(TableArn=made["TableArn"])["ExportSummaries"]
    assert [e["ExportArn"] for e in listed] == [made["ExportArn"]]
    assert ours.describe_table(TableName=table)["Table"]["TableName"] == table


def test_the_request_follows_aws_rules(
    ddb: Any, make_table: Any, bucket: Any, incremental_exports: IncrementalExports
) -> None:
    standin, ours = incremental_exports, client(incremental_exports)
    table, name = make_table(), bucket({})
    # point-in-time recovery off: refused, and DescribeContinuousBackups says so
    pitr = ours.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    now = standin.now()
    with pytest.raises(ClientError, match="PointInTimeRecoveryUnavailableException"):
        request(ours, table, name, now - HOUR, now)
    t0 = standin.enable_pitr(table)
    standin.advance(HOUR * 30)
    pitr = ours.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["EarliestRestorableDateTime"] == t0
    # windows under 15 minutes, over 24 hours, before recovery began or after its latest time: refused
    for start, end in [(t0, t0 + timedelta(minutes=14)), (t0, t0 + HOUR * 25), (t0 - HOUR, t0 + HOUR),
                       (standin.now() - HOUR, standin.now() + HOUR)]:  # fmt: skip
        with pytest.raises(ClientError, match="InvalidExportTimeException"):
            request(ours, table, name, start, end)
    assert standin.exports == {}
    # one token, one export; the token with other parameters: a conflict; after 8 hours: a new export
    first = request(ours, table, name, t0, t0 + HOUR)
    assert request(ours, table, name, t0, t0 + HOUR)["ExportArn"] == first["ExportArn"]
    with pytest.raises(ClientError, match="ExportConflictException"):
        request(ours, table, name, t0, t0 + HOUR * 2)
    standin.advance(HOUR * 9)
    assert request(ours, table, name, t0, t0 + HOUR)["ExportArn"] != first["ExportArn"]
    # ListExports pages (two a page here)
    request(ours, table, name, t0 + HOUR, t0 + HOUR * 2, token="t-2")
    page = ours.list_exports(TableArn=first["TableArn"])
    assert len(page["ExportSummaries"]) == 2 and page["NextToken"]
    rest = ours.list_exports(TableArn=first["TableArn"], NextToken=page["NextToken"])
    assert len(rest["ExportSummaries"]) == 1 and "NextToken" not in rest


def test_an_export_to_a_missing_bucket_fails(
    ddb: Any, make_table: Any, incremental_exports: IncrementalExports
) -> None:
    standin, ours = incremental_exports, client(incremental_exports)
    table = make_table()
    t0 = standin.enable_pitr(table)
    standin.advance(HOUR)
    made = request(ours, table, "no-such-bucket-here", t0, t0 + HOUR / 2)
    described = ours.describe_export(ExportArn=made["ExportArn"])["ExportDescription"]
    assert described["ExportStatus"] == "FAILED" and described["FailureCode"] == "S3NoSuchBucket"
