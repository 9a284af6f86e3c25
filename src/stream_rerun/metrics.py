"""CloudWatch Embedded Metric Format on the worker's own log lines: progress and summary lines carry an `_aws` block,
so CloudWatch Logs turns them into metrics with no API call and no extra permission.

https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

Counts are deltas since the previous line (their Sum over a run is the run's total); ItemsPerSecond is a gauge.
Dimensions are the table and the environment, never RUN_ID (one metric per run would be unbounded cardinality).
"""

from __future__ import annotations

import threading
import time
from typing import Any

# Metric name -> the counter it counts (a delta per line).
COUNTS = {
    "TouchedItems": "touched",
    "FailedItems": "failed",
    "ThrottledStatements": "throttled_statements",
    "ConsumedWCU": "consumed_wcu",
}
DIMENSIONS = ["table", "environment"]
# python-json-logger drops extra fields whose names start with "_": the block travels as EMF_FIELD and log.py renames
# it to "_aws" on output.
EMF_FIELD = "aws_emf"


class Emf:
    """Builds the EMF fields of each progress and summary line; empty when no namespace is set."""

    def __init__(self, namespace: str, table: str, environment: str) -> None:
        self.namespace = namespace
        self.table = table
        self.environment = environment or "default"
        self._last: dict[str, float] = dict.fromkeys(COUNTS.values(), 0.0)
        self._lock = threading.Lock()

    def fields(self, counts: dict[str, Any]) -> dict[str, Any]:
        """The `_aws` block and metric values for a line holding `counts` (the run's counters so far)."""
        if not self.namespace:
            return {}
        with self._lock:
            deltas = {name: float(counts.get(c, 0)) - self._last[c] for name, c in COUNTS.items()}
            self._last = {c: float(counts.get(c, 0)) for c in COUNTS.values()}
        metrics = [{"Name": name, "Unit": "Count"} for name in COUNTS]
        metrics.append({"Name": "ItemsPerSecond", "Unit": "Count/Second"})
        return {
            EMF_FIELD: {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [{"Namespace": self.namespace, "Dimensions": [DIMENSIONS], "Metrics": metrics}],
            },
            "environment": self.environment,
            **{name: round(value, 1) for name, value in deltas.items()},
            "ItemsPerSecond": counts.get("items_per_s", 0.0),
        }
