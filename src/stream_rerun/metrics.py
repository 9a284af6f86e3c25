"""CloudWatch Embedded Metric Format on the worker's own log lines: progress and summary lines carry an `_aws` block,
so CloudWatch Logs turns them into metrics with no API call and no extra permission.

https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

Counts are deltas since the previous line (their Sum over a run is the run's total); ItemsPerSecond and WcuCap are
gauges. Dimensions are the table and the environment, never RUN_ID (one metric per run would be unbounded
cardinality). Terraform's dashboard (terraform/modules/stream-rerun/dashboard.tf) reads these names; a test keeps the
two lists the same.
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
# Metric name -> the rate field it reports as it is (Count/Second).
GAUGES = {"ItemsPerSecond": "items_per_s"}
# The run's WCU cap in units per second (MAX_WCU_PER_SECOND, or what MAX_WCU_PERCENT came to): only on runs with a cap,
# so the dashboard draws ConsumedWCU per second against it. Each task of a fan-out has its own cap.
CAP = "WcuCap"
# Every name the worker can emit.
NAMES = frozenset(COUNTS) | frozenset(GAUGES) | {CAP}
DIMENSIONS = ["table", "environment"]
# python-json-logger drops extra fields whose names start with "_": the block travels as EMF_FIELD and log.py renames
# it to "_aws" on output.
EMF_FIELD = "aws_emf"


class Emf:
    """Builds the EMF fields of each progress and summary line; empty when no namespace is set.

    `wcu_cap`: the run's WCU cap (units per second), emitted on every line as the gauge WcuCap; None for a run
    without one (no WcuCap).
    """

    def __init__(self, namespace: str, table: str, environment: str, *, wcu_cap: float | None = None) -> None:
        self.namespace = namespace
        self.table = table
        self.environment = environment or "default"
        self.wcu_cap = wcu_cap
        self._last: dict[str, float] = dict.fromkeys(COUNTS.values(), 0.0)
        self._lock = threading.Lock()

    def fields(self, counts: dict[str, Any]) -> dict[str, Any]:
        """The `_aws` block and metric values for a line holding `counts` (the run's counters so far)."""
        if not self.namespace:
            return {}
        with self._lock:
            deltas = {name: float(counts.get(c, 0)) - self._last[c] for name, c in COUNTS.items()}
            self._last = {c: float(counts.get(c, 0)) for c in COUNTS.values()}
        values: dict[str, Any] = {name: round(value, 1) for name, value in deltas.items()}
        values.update({name: counts.get(field, 0.0) for name, field in GAUGES.items()})
        metrics = [{"Name": name, "Unit": "Count"} for name in COUNTS]
        metrics += [{"Name": name, "Unit": "Count/Second"} for name in GAUGES]
        if self.wcu_cap is not None:
            values[CAP] = self.wcu_cap
            metrics.append({"Name": CAP, "Unit": "Count/Second"})
        return {
            EMF_FIELD: {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [{"Namespace": self.namespace, "Dimensions": [DIMENSIONS], "Metrics": metrics}],
            },
            "environment": self.environment,
            **values,
        }
