"""Who will see the re-fire (issue 21): the worker's preflight lists the Lambda mappings on the table's real stream in
DynamoDB Local (served by the Lambda stand-in, tests/support/lambda_api.py), refuses a disabled one, and reads the
stream to prove what was (not) written."""

from __future__ import annotations

from typing import Any

import boto3

from stream_rerun.consumers import discover
from stream_rerun_dev import emulator
from tests.support.items import item
from tests.support.lambda_api import LambdaApi, function_arn
from tests.support.streams import modifies

DLQ = "arn:aws:sqs:eu-west-1:123456789012:indexer-dlq"


def loaded(ddb: Any, make_table: Any, n: int = 5) -> tuple[str, str]:
    """A table with `n` items in partition p1; its name and its stream's ARN."""
    table = make_table()
    emulator.put_items(ddb, table, [item("p1", f"{i:03}", revision=1) for i in range(n)])
    return table, ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]


def test_disabled_mapping_refuses_the_run_and_writes_nothing(
    ddb: Any, make_table: Any, stream: Any, worker: Any, lambda_api: LambdaApi
) -> None:
    # GIVEN a Disabled mapping on the table's current stream
    table, arn = loaded(ddb, make_table)
    mapping = lambda_api.add(arn, "indexer", state="Disabled")
    before = len(stream(table))
    # WHEN the worker runs
    result = worker(table, HASH_KEY_VALUE="p1", AWS_ENDPOINT_URL_LAMBDA=lambda_api.url)
    # THEN exit 2, one line naming the function, its state, its mapping and the fix; nothing on the stream
    assert result.code == 2 and len(result.lines) == 1, result.lines
    message = result.lines[0]["message"]
    assert result.lines[0]["level"] == "ERROR" and result.lines[0]["event"] == "preflight_failed"
    for part in ("'indexer'", "Disabled", mapping["UUID"], "expire", "24 hours", "ALLOW_DISABLED_CONSUMERS=true"):
        assert part in message
    assert len(stream(table)) == before
    assert lambda_api.requests[0]["EventSourceArn"] == arn


def test_allow_disabled_consumers_runs(
    ddb: Any, make_table: Any, stream: Any, worker: Any, lambda_api: LambdaApi
) -> None:
    table, arn = loaded(ddb, make_table)
    lambda_api.add(arn, "indexer", state="Disabling")
    before = len(stream(table))
    result = worker(table, HASH_KEY_VALUE="p1", AWS_ENDPOINT_URL_LAMBDA=lambda_api.url, ALLOW_DISABLED_CONSUMERS="true")
    assert result.code == 0 and result.summary["touched"] == 5
    assert len(modifies(stream(table)[before:])) == 5
    assert result.event("run_started")["consumers"]["found"][0]["state"] == "Disabling"


def test_run_started_lists_every_consumer_with_its_fields(
    ddb: Any, make_table: Any, worker: Any, lambda_api: LambdaApi
) -> None:
    # GIVEN three mappings on the stream (two pages of the stand-in) and one on another stream
    table, arn = loaded(ddb, make_table)
    lambda_api.add(arn, "indexer", BatchSize=25, ParallelizationFactor=4, BisectBatchOnFunctionError=True,
                   DestinationConfig={"OnFailure": {"Destination": DLQ}},
                   FilterCriteria={"Filters": [{"Pattern": '{"eventName": ["MODIFY"]}'}]})  # fmt: skip
    lambda_api.add(arn, "search-sync")
    lambda_api.add(arn, "audit")
    lambda_api.add("arn:aws:dynamodb:ddblocal:000000000000:table/other/stream/x", "elsewhere")
    result = worker(table, HASH_KEY_VALUE="p1", AWS_ENDPOINT_URL_LAMBDA=lambda_api.url)
    assert result.code == 0
    consumers = result.event("run_started")["consumers"]
    assert consumers["discovered"] is True
    assert [c["function"] for c in consumers["found"]] == ["indexer", "search-sync", "audit"]
    assert consumers["watched"] == ["indexer", "search-sync", "audit"]
    first = consumers["found"][0]
    expected = {"kind": "lambda", "arn": function_arn("indexer"), "state": "Enabled", "batch_size": 25,
                "parallelization_factor": 4, "bisect_on_error": True, "on_failure": DLQ, "filtered": True}  # fmt: skip
    assert first == {**first, **expected}
    assert first["uuid"] == lambda_api.mappings[0]["UUID"]
    assert [r.get("Marker") for r in lambda_api.requests] == [None, "2"]  # paginated


def test_dry_run_estimates_invocations_per_consumer(
    ddb: Any, make_table: Any, stream: Any, worker: Any, lambda_api: LambdaApi
) -> None:
    table, arn = loaded(ddb, make_table, n=7)
    lambda_api.add(arn, "indexer", BatchSize=3)
    lambda_api.add(arn, "search-sync", BatchSize=100)
    before = len(stream(table))
    result = worker(table, HASH_KEY_VALUE="p1", DRY_RUN="true", AWS_ENDPOINT_URL_LAMBDA=lambda_api.url)
    assert result.code == 0 and result.summary["selected"] == 7
    estimate = {e["name"]: e for e in result.summary["consumer_estimate"]}
    assert estimate["indexer"]["invocations_at_least"] == 3 and estimate["indexer"]["records"] == 7
    assert estimate["search-sync"]["invocations_at_least"] == 1
    assert [c["function"] for c in result.summary["consumers"]["found"]] == ["indexer", "search-sync"]
    assert len(stream(table)) == before


def test_access_denied_is_a_warning_and_the_run_goes_on(
    ddb: Any, make_table: Any, stream: Any, worker: Any, lambda_api: LambdaApi
) -> None:
    table, arn = loaded(ddb, make_table)
    lambda_api.add(arn, "indexer", state="Disabled")  # unseen: the listing is refused
    lambda_api.refuse = (403, "AccessDeniedException")
    before = len(stream(table))
    result = worker(table, HASH_KEY_VALUE="p1", AWS_ENDPOINT_URL_LAMBDA=lambda_api.url)
    assert result.code == 0 and len(modifies(stream(table)[before:])) == 5
    warning = result.event("consumers_unknown")
    assert warning["level"] == "WARNING" and warning["discovered"] is False
    assert "lambda:ListEventSourceMappings" in warning["message"] and "AccessDeniedException" in warning["message"]
    assert len(lambda_api.requests) == 1  # refused once, not retried
    assert result.event("run_started")["consumers"] == {**result.event("run_started")["consumers"],
                                                        "discovered": False, "found": []}  # fmt: skip


def test_without_a_lambda_endpoint_the_run_warns_and_goes_on(
    ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    """AWS_ENDPOINT_URL points every service at DynamoDB Local, which does not serve the Lambda API."""
    table, _ = loaded(ddb, make_table)
    before = len(stream(table))
    result = worker(table, HASH_KEY_VALUE="p1")
    assert result.code == 0 and len(modifies(stream(table)[before:])) == 5
    assert "lambda:ListEventSourceMappings failed" in result.event("consumers_unknown")["message"]


def test_consumer_lag_limit_with_nothing_to_watch_exits_2(
    ddb: Any, make_table: Any, stream: Any, worker: Any, lambda_api: LambdaApi
) -> None:
    table, _ = loaded(ddb, make_table)  # no mapping on its stream
    before = len(stream(table))
    result = worker(table, HASH_KEY_VALUE="p1", AWS_ENDPOINT_URL_LAMBDA=lambda_api.url, MAX_CONSUMER_LAG_SECONDS="60")
    assert result.code == 2 and len(result.lines) == 1
    assert "MAX_CONSUMER_LAG_SECONDS=60" in result.lines[0]["message"]
    assert "CONSUMER_FUNCTIONS" in result.lines[0]["message"]
    assert len(stream(table)) == before


def test_named_functions_are_watched_and_listed(ddb: Any, make_table: Any, worker: Any, lambda_api: LambdaApi) -> None:
    table, arn = loaded(ddb, make_table)
    lambda_api.add(arn, "indexer")
    lambda_api.add(arn, "search-sync")
    result = worker(table, HASH_KEY_VALUE="p1", AWS_ENDPOINT_URL_LAMBDA=lambda_api.url, DRY_RUN="true",
                    CONSUMER_FUNCTIONS=f"{function_arn('indexer')},kcl-bridge")  # fmt: skip
    consumers = result.event("run_started")["consumers"]
    assert consumers["watched"] == ["indexer", "kcl-bridge"]
    states = {c["function"]: (c["state"], c["named"]) for c in consumers["found"]}
    assert states == {"indexer": ("Enabled", True), "search-sync": ("Enabled", False), "kcl-bridge": ("unknown", True)}


def test_discover_pages_through_the_stand_in(lambda_api: LambdaApi, endpoint: str) -> None:
    """The stand-in itself: boto3's own parsing of its answers, five mappings over three pages."""
    arn = "arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/2026-01-01T00:00:00.000"
    for n in range(5):
        lambda_api.add(arn, f"f{n}", state="Enabled" if n else "Updating")
    client = boto3.client("lambda", region_name="eu-west-1", endpoint_url=lambda_api.url,
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    found = discover(client, emulator.ddb(endpoint), table_name="t", stream_arn=arn)
    assert [c.name for c in found.found] == ["f0", "f1", "f2", "f3", "f4"]
    assert found.found[0].state == "Updating" and found.discovered
    assert len(lambda_api.requests) == 3
