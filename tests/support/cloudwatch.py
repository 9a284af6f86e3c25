"""CloudWatch for tests: a loopback moto server, and datapoints of the AWS/Lambda metrics the worker reads.

moto 5.2 models PutMetricData and GetMetricData with Maximum and Sum per period (moto/cloudwatch/models.py), which is
what consumer pacing uses. Where it differs from CloudWatch: data is readable at once (CloudWatch takes a minute or
two); periods start at the StartTime given, unrounded (the worker rounds it to the minute itself, as CloudWatch
would); a query with dimensions is matched on the metric name and the exact dimension set, not on the namespace.
moto's backends are shared by every moto server of the process, per region: tests use function names of their own, in
the worker's region (emulator.DUMMY_CREDENTIALS).
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from stream_rerun_dev import emulator
from tests.support.loopback import loopback_moto


def moto_cloudwatch() -> contextlib.AbstractContextManager[str]:
    """A moto server on a free loopback port; its endpoint URL (AWS_ENDPOINT_URL_CLOUDWATCH)."""
    return loopback_moto()


def function() -> str:
    """A Lambda function name no other test uses."""
    return f"consumer-{uuid.uuid4().hex[:10]}"


def client(endpoint: str) -> Any:
    """A client in the worker's region with its dummy credentials (moto keeps data per region and account)."""
    return boto3.client("cloudwatch", endpoint_url=endpoint, **emulator.DUMMY_CREDENTIALS)


def put(endpoint: str, metric: str, function: str, value: float, *, ago_s: float = 1.0, unit: str = "Count") -> None:
    """One datapoint of an AWS/Lambda metric of `function`, dated `ago_s` seconds ago."""
    client(endpoint).put_metric_data(Namespace="AWS/Lambda", MetricData=[{
        "MetricName": metric, "Dimensions": [{"Name": "FunctionName", "Value": function}], "Value": value,
        "Unit": unit, "Timestamp": datetime.now(UTC) - timedelta(seconds=ago_s)}])  # fmt: skip


def put_iterator_age(endpoint: str, function: str, seconds: float, *, ago_s: float = 1.0) -> None:
    """IteratorAge (milliseconds, as Lambda sends it) of `function`. The worker reads the latest 60-s period's Maximum:
    a value meant to replace an earlier one must fall in a later clock minute (date the earlier one 90 s back)."""
    put(endpoint, "IteratorAge", function, seconds * 1000, ago_s=ago_s, unit="Milliseconds")
