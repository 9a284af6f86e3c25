"""Embedded metrics: the `_aws` block CloudWatch Logs reads, with per-line deltas."""

from __future__ import annotations

import json
from typing import Any

from stream_rerun.log import configure_logging
from stream_rerun.metrics import EMF_FIELD, Emf


def test_lines_carry_deltas_under_the_table_and_environment_dimensions() -> None:
    emf = Emf("ddb-stream-rerun", "orders", "prod")
    first = emf.fields(
        {"touched": 100, "failed": 1, "throttled_statements": 5, "consumed_wcu": 200.0, "items_per_s": 50}
    )
    second = emf.fields(
        {"touched": 250, "failed": 1, "throttled_statements": 5, "consumed_wcu": 500.0, "items_per_s": 75}
    )
    directive = first[EMF_FIELD]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ddb-stream-rerun" and directive["Dimensions"] == [["table", "environment"]]
    assert {m["Name"] for m in directive["Metrics"]} == {"TouchedItems", "FailedItems", "ThrottledStatements",
                                                         "ConsumedWCU", "ItemsPerSecond"}  # fmt: skip
    assert (first["TouchedItems"], first["FailedItems"], first["environment"]) == (100, 1, "prod")
    assert (second["TouchedItems"], second["FailedItems"], second["ConsumedWCU"], second["ItemsPerSecond"]) == (
        150, 0, 300, 75)  # fmt: skip
    assert "run_id" not in str(directive["Dimensions"])


def test_no_namespace_no_metrics() -> None:
    assert Emf("", "orders", "prod").fields({"touched": 3}) == {}


def test_the_block_is_written_as_aws(capsys: Any) -> None:
    logger = configure_logging()
    logger.info("progress", extra=Emf("ns", "orders", "dev").fields({"touched": 2}))
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ns" and EMF_FIELD not in line
    assert line["TouchedItems"] == 2
