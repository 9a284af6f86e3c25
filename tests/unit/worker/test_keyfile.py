"""KEYS_FILE parsing and its s3:// source (botocore Stubber stands in for S3: no data reaches a stream here)."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from stream_rerun.errors import ConfigError
from stream_rerun.sources import keyfile
from stream_rerun.table import TableInfo

TABLE = TableInfo("orders", ("id", "at"), {"id": "B", "at": "N"}, {}, "dynamodb:NEW_AND_OLD_IMAGES", 0, 0)
HASH_ONLY = TableInfo("users", ("user",), {"user": "S"}, {}, "dynamodb:KEYS_ONLY", 0, 0)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('{"id": {"B": "AAE="}, "at": {"N": "7"}}', {"id": {"B": b"\x00\x01"}, "at": {"N": "7"}}),
        ('{"id": "AAE=", "at": 7.5}', {"id": {"B": b"\x00\x01"}, "at": {"N": "7.5"}}),
        (
            '{"Item": {"id": {"B": "AAE="}, "at": {"N": "1"}, "x": {"S": "y"}}}',
            {"id": {"B": b"\x00\x01"}, "at": {"N": "1"}},
        ),
    ],
)
def test_lines_become_keys(line: str, key: dict[str, Any]) -> None:
    assert keyfile.parse_key(line, TABLE) == key


def test_bare_values_for_a_partition_only_table() -> None:
    assert keyfile.parse_key('"u-1"', HASH_ONLY) == {"user": {"S": "u-1"}}
    with pytest.raises(ValueError, match="a number, but the key is of type S"):
        keyfile.parse_key("42", HASH_ONLY)
    with pytest.raises(ValueError, match="empty"):
        keyfile.parse_key('""', HASH_ONLY)


def test_shares_split_every_line_once() -> None:
    lines = [f'{{"user": "u{n}"}}' for n in range(10)] + [""]
    shares = [list(keyfile.key_pages(lambda: iter(lines), HASH_ONLY, i, 3, 2)) for i in range(3)]
    users = sorted(k["user"]["S"] for pages in shares for page in pages for k in page)
    assert users == sorted(f"u{n}" for n in range(10))
    assert [sum(map(len, pages)) for pages in shares] == [4, 3, 3]


def test_s3_key_file_is_read_from_the_object() -> None:
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(s3)
    body = b'{"user": "u1"}\n\n{"user": "u2"}\n'
    for _ in range(2):  # checked once, then read again to select
        stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(body), len(body))},
                          {"Bucket": "dlq-exports", "Key": "2026/11/keys.jsonl"})  # fmt: skip
    with stub:
        lines = keyfile.opener("s3://dlq-exports/2026/11/keys.jsonl", lambda: s3)
        assert keyfile.check(lines, HASH_ONLY, "s3://dlq-exports/2026/11/keys.jsonl") == 2
        assert list(keyfile.key_pages(lines, HASH_ONLY, 0, 1, 10)) == [[{"user": {"S": "u1"}}, {"user": {"S": "u2"}}]]


def test_unreadable_sources_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="not a readable file"):
        keyfile.opener("/nonexistent/keys.jsonl", lambda: None)
    with pytest.raises(ConfigError, match="is not s3://bucket/key"):
        keyfile.opener("s3://bucket-only", lambda: None)
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(s3)
    stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)
    with stub, pytest.raises(ConfigError, match="cannot be read"):
        keyfile.check(keyfile.opener("s3://b/k.jsonl", lambda: s3), HASH_ONLY, "s3://b/k.jsonl")


def test_many_malformed_lines_are_counted_not_all_listed() -> None:
    lines = ["{"] * 25
    with pytest.raises(ConfigError, match=r"has 25 malformed lines \(and 15 more\): line 1: not JSON") as exc:
        keyfile.check(lambda: iter(lines), HASH_ONLY, "f")
    assert "line 11:" not in str(exc.value)
