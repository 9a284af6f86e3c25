"""Embedded metrics: the `_aws` block CloudWatch Logs reads, with per-line deltas."""

from __future__ import annotations

import json
from typing import Any

from stream_rerun.log import configure_logging
from stream_rerun.metrics import CAP, EMF_FIELD, NAMES, Emf


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
    assert CAP not in first, "a run without a cap emits no WcuCap"


def test_a_run_with_a_cap_emits_it_as_a_gauge_on_every_line() -> None:
    emf = Emf("ddb-stream-rerun", "orders", "prod", wcu_cap=400.0)
    lines = [emf.fields({"consumed_wcu": 100.0}), emf.fields({"consumed_wcu": 500.0})]
    for line in lines:
        metrics = {m["Name"]: m["Unit"] for m in line[EMF_FIELD]["CloudWatchMetrics"][0]["Metrics"]}
        assert metrics[CAP] == "Count/Second" and line[CAP] == 400.0
    assert (lines[0]["ConsumedWCU"], lines[1]["ConsumedWCU"]) == (100.0, 400.0)


def test_every_name_a_line_carries_is_in_names() -> None:
    line = Emf("ns", "orders", "dev", wcu_cap=10.0).fields({"touched": 1})
    assert {m["Name"] for m in line[EMF_FIELD]["CloudWatchMetrics"][0]["Metrics"]} == NAMES


def test_no_namespace_no_metrics() -> None:
    assert Emf("", "orders", "prod").fields({"touched": 3}) == {}


def test_the_block_is_written_as_aws(capsys: Any) -> None:
    logger = configure_logging()
    logger.info("progress", extra=Emf("ns", "orders", "dev").fields({"touched": 2}))
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ns" and EMF_FIELD not in line
    assert line["TouchedItems"] == 2
