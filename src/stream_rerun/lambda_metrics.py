"""Reading AWS/Lambda metrics with CloudWatch GetMetricData (consumer_lag.py): one query per metric and dimension, up
to 500 queries a call (CloudWatch API Reference, GetMetricData), 60-s periods that start on the clock minute."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDataQueryTypeDef, MetricTypeDef

PERIOD_S = 60
MAX_QUERIES = 500  # GetMetricData's limit per call
NAMESPACE = "AWS/Lambda"


def query(qid: str, metric: str, dimension: str, value: str, stat: str) -> MetricDataQueryTypeDef:
    of: MetricTypeDef = {
        "Namespace": NAMESPACE,
        "MetricName": metric,
        "Dimensions": [{"Name": dimension, "Value": value}],
    }
    return {"Id": qid, "ReturnData": True, "MetricStat": {"Period": PERIOD_S, "Stat": stat, "Metric": of}}


def read(
    client: CloudWatchClient, queries: list[MetricDataQueryTypeDef], start: datetime, end: datetime
) -> dict[str, list[float]]:
    """Each query's values, newest first: one GetMetricData call per 500 queries, its pages followed."""
    values: dict[str, list[float]] = {q["Id"]: [] for q in queries}
    for first in range(0, len(queries), MAX_QUERIES):
        more: dict[str, Any] = {}
        while True:
            page = client.get_metric_data(MetricDataQueries=queries[first : first + MAX_QUERIES], StartTime=start,
                                          EndTime=end, ScanBy="TimestampDescending", **more)  # fmt: skip
            for result in page.get("MetricDataResults", []):
                values.setdefault(result.get("Id", ""), []).extend(result.get("Values", []))
            if not page.get("NextToken"):
                break
            more = {"NextToken": page["NextToken"]}
    return values


def minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def count(values: list[float] | None) -> int | None:
    """A Sum over the window: 0 when CloudWatch holds zeros, None when it holds nothing."""
    return None if not values else round(sum(values))
