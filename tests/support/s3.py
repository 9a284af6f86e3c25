"""S3 for tests: a loopback moto server (S3 is storage for key files, exports and re-drive files here; what reaches
a stream is always DynamoDB Local's). A pytest plugin: `s3_endpoint`, and `bucket` to fill one."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from tests.support.loopback import loopback_moto


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", region_name="eu-west-1", endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing")  # fmt: skip


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with loopback_moto() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint: str) -> Callable[[dict[str, bytes]], str]:
    """Make a bucket holding `objects` (key: body); returns its name."""

    def make(objects: dict[str, bytes]) -> str:
        name = f"b-{uuid.uuid4().hex[:12]}"
        s3 = s3_client(s3_endpoint)
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for key, body in objects.items():
            s3.put_object(Bucket=name, Key=key, Body=body)
        return name

    return make


def objects_under(endpoint: str, bucket: str, prefix: str) -> dict[str, str]:
    """Every object under `prefix`, as text."""
    s3 = s3_client(endpoint)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode() for o in listed}
