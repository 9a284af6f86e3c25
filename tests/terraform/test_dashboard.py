"""The run dashboard (terraform/modules/stream-rerun/dashboard.tf) reads the metrics the worker emits
(stream_rerun.metrics), under the dimensions it emits them with; the environments set what the launcher asks.

The rendered dashboard is checked by `terraform test` (tests/dashboard.tftest.hcl) and, applied to moto, by
test_chain.py; this test reads the module's source, so it runs where terraform does not.
"""

from __future__ import annotations

import re

from stream_rerun import metrics
from tests.terraform.test_static import MODULE, TF, locals_, parse

SOURCE = (MODULE / "dashboard.tf").read_text()
# A worker metric in dashboard.tf: concat([var.metrics_namespace, "<Name>"], local.worker_dimensions, [{ <options> }])
WORKER_METRIC = re.compile(r'concat\(\[var\.metrics_namespace, "(\w+)"\], local\.worker_dimensions, \[\{([^}]*)\}\]\)')


def dashboard_metrics() -> dict[str, str]:
    """Each worker metric the dashboard reads -> the statistic it reads."""
    found = {}
    for name, options in WORKER_METRIC.findall(SOURCE):
        found[name] = re.search(r'stat\s*=\s*"(\w+)"', options).group(1)  # type: ignore[union-attr]
    return found


def test_every_worker_metric_on_the_dashboard_is_one_the_worker_emits() -> None:
    read = dashboard_metrics()
    assert set(read) <= metrics.NAMES, f"the worker never emits {set(read) - metrics.NAMES}"
    # items touched, write units, throttled statements, failed items: every count, and the cap
    assert set(metrics.COUNTS) | {metrics.CAP} <= set(read)
    # counts are deltas per line (their Sum is the total); the cap is a gauge
    assert {name: read[name] for name in metrics.COUNTS} == dict.fromkeys(metrics.COUNTS, "Sum")
    assert read[metrics.CAP] == "Maximum"


def test_the_dashboard_reads_the_dimensions_the_worker_emits() -> None:
    dimensions = locals_()["worker_dimensions"]
    assert dimensions[0::2] == metrics.DIMENSIONS
    # the worker's METRICS_ENVIRONMENT is the deployment's environment (main.tf), the table its TABLE_NAME
    assert dimensions[1::2] == ["${var.table_name}", "${var.environment}"]
    environment = locals_()["worker_environment"]
    assert "METRICS_ENVIRONMENT = var.environment" in environment and "TABLE_NAME = var.table_name" in environment


def test_each_consumer_widget_reads_aws_lambda_by_function_name() -> None:
    for name, stat in (("IteratorAge", "Maximum"), ("Errors", "Sum"), ("ConcurrentExecutions", "Maximum")):
        pattern = rf'\["AWS/Lambda", "{name}", "FunctionName", f, \{{[^\]]*stat\s*=\s*"{stat}"'
        assert re.search(pattern, SOURCE), f"no {name} ({stat}) line per consumer"


def test_prod_asks_before_a_run_and_dev_does_not() -> None:
    for env, confirm in (("dev", False), ("prod", True)):
        call = parse(TF / "envs" / env / "main.tf")["module"][0]["stream_rerun"]
        assert call["confirm_runs"] is confirm, env
        assert call["consumer_function_names"] == "${var.consumer_function_names}", env
