"""consumers.py: reading AWS's mapping and destination shapes, the refusal of a mapping not Enabled, the estimate, and
discovery's answers to failed calls (botocore's Stubber: no network)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from stream_rerun.consumers import UNKNOWN, Consumer, Consumers, discover, mapping_of
from stream_rerun.errors import OPERATOR, ConfigError

STREAM = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"
KINESIS = "arn:aws:kinesis:eu-west-1:123456789012:stream/orders-changes"
DLQ = "arn:aws:sqs:eu-west-1:123456789012:indexer-dlq"


def uid(name: str) -> str:
    """A mapping UUID (36 characters, as the API's shape requires)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def arn(name: str) -> str:
    return f"arn:aws:lambda:eu-west-1:123456789012:function:{name}"


def mapping(function: str, state: str = "Enabled", source: str = STREAM, **fields: Any) -> dict[str, Any]:
    """An EventSourceMappingConfiguration as the API reference shows it."""
    return {"UUID": uid(function), "EventSourceArn": source, "FunctionArn": arn(function), "State": state,
            "BatchSize": 100, "ParallelizationFactor": 1, "BisectBatchOnFunctionError": False,
            "DestinationConfig": {"OnFailure": {}}, "StartingPosition": "LATEST", **fields}  # fmt: skip


def lam(name: str = "indexer", state: str = "Enabled", **fields: Any) -> Consumer:
    return Consumer("lambda", name, arn(name), state, uuid=uid(name), **fields)


@pytest.fixture
def clients() -> Iterator[tuple[Any, Stubber, Any, Stubber]]:
    kw: dict[str, Any] = {"region_name": "eu-west-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    lambda_, dynamodb = boto3.client("lambda", **kw), boto3.client("dynamodb", **kw)
    with Stubber(lambda_) as ls, Stubber(dynamodb) as ds:
        yield lambda_, ls, dynamodb, ds
        ls.assert_no_pending_responses()
        ds.assert_no_pending_responses()


def no_kinesis(ds: Stubber) -> None:
    answer = {"TableName": "orders", "KinesisDataStreamDestinations": []}
    ds.add_response("describe_kinesis_streaming_destination", answer, {"TableName": "orders"})


# ---- shapes ----


def test_mapping_fields_are_read() -> None:
    got = mapping_of(mapping("indexer", "Disabled", BatchSize=25, ParallelizationFactor=4,
                             BisectBatchOnFunctionError=True, DestinationConfig={"OnFailure": {"Destination": DLQ}},
                             FilterCriteria={"Filters": [{"Pattern": '{"eventName": ["MODIFY"]}'}]}))  # fmt: skip
    assert got == Consumer("lambda", "indexer", arn("indexer"), "Disabled", batch_size=25, parallelization_factor=4,
                           bisect_on_error=True, on_failure=DLQ, filtered=True, uuid=uid("indexer"),
                           event_source=STREAM)  # fmt: skip
    assert not got.enabled and got.describe()["function"] == "indexer" and got.describe()["on_failure"] == DLQ


def test_a_sparse_mapping_reads_as_unset() -> None:
    got = mapping_of({"UUID": "u", "FunctionArn": arn("f") + ":live", "State": "Enabled", "FilterCriteria": {}})
    assert (got.name, got.function, got.batch_size, got.on_failure, got.filtered) == ("f:live", "f", None, None, False)
    assert got.enabled


def test_kinesis_enabled_means_active() -> None:
    assert Consumer("kinesis", "s", KINESIS, "ACTIVE").enabled
    assert not Consumer("kinesis", "s", KINESIS, "DISABLED").enabled
    assert set(Consumer("kinesis", "s", KINESIS, "ACTIVE").describe()) == {"kind", "name", "arn", "state"}


# ---- check ----


@pytest.mark.parametrize("state", ["Disabled", "Disabling", "Updating", "Creating", "Enabling", "Deleting"])
def test_a_mapping_not_enabled_refuses_the_run(state: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Consumers((lam("search-sync"), lam("indexer", state)), ("search-sync", "indexer"), True).check(False)
    message = str(refused.value)
    assert f"function 'indexer' (mapping {uid('indexer')}) is {state}" in message and "search-sync" not in message
    assert "expire from the stream after 24 hours" in message and "ALLOW_DISABLED_CONSUMERS=true" in message
    assert f"--uuid {uid('indexer')} --enabled" in message and "\n" not in message


def test_every_idle_mapping_is_named() -> None:
    with pytest.raises(ConfigError, match=r"'a' .* is Disabled; function 'b' .* is Updating") as refused:
        Consumers((lam("a", "Disabled"), lam("b", "Updating")), ("a", "b"), True).check(False)
    assert "--uuid <uuid>" in str(refused.value)


def test_allowed_unknown_and_kinesis_do_not_refuse() -> None:
    Consumers((lam("a", "Disabled"),), ("a",), True).check(True)
    Consumers((Consumer("lambda", "kcl", "kcl", UNKNOWN, named=True),), ("kcl",), True).check(False)
    Consumers((Consumer("kinesis", "s", KINESIS, "DISABLED"),), (), True).check(False)


def test_a_lag_limit_needs_a_watched_function() -> None:
    Consumers((lam(),), ("indexer",), True).check(False, max_lag=60)
    with pytest.raises(
        ConfigError, match=r"MAX_CONSUMER_LAG_SECONDS=90 watches no consumer \(denied\): set CONSUMER_F"
    ):
        Consumers((), (), False, "denied").check(False, max_lag=90)


# ---- estimate ----


def test_estimate_is_a_lower_bound_of_invocations_per_mapping() -> None:
    consumers = Consumers((lam("a", batch_size=10), lam("b", batch_size=1000, filtered=True), lam("c"),
                           Consumer("kinesis", "s", KINESIS, "ACTIVE"), Consumer("kinesis", "off", KINESIS, "DISABLED"),
                           Consumer("lambda", "kcl", "kcl", UNKNOWN, named=True)), ("a",), True)  # fmt: skip
    per = {e["name"]: e for e in consumers.estimate(101)["consumer_estimate"]}
    assert per["a"]["invocations_at_least"] == 11 and per["a"]["records"] == 101
    assert per["b"]["invocations_at_least"] is None and per["b"]["filtered"] is True  # no bound: a filter drops records
    assert per["c"]["invocations_at_least"] == 2 and per["c"]["batch_size"] == 100  # DynamoDB streams' default
    assert per["s"] == {"kind": "kinesis", "name": "s", "uuid": None, "records": 101}
    assert "kcl" not in per and "off" not in per  # a disabled Kinesis destination receives nothing
    assert (
        Consumers((lam("a", batch_size=10),), (), True).estimate(0)["consumer_estimate"][0]["invocations_at_least"] == 0
    )


# ---- discover ----


def test_discover_pages_and_watches_the_found_functions(clients: Any) -> None:
    lambda_, ls, dynamodb, ds = clients
    no_kinesis(ds)
    ls.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping("a")], "NextMarker": "m1"},
                    {"EventSourceArn": STREAM})  # fmt: skip
    ls.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping("b"), mapping("a:live")]},
                    {"EventSourceArn": STREAM, "Marker": "m1"})  # fmt: skip
    found = discover(lambda_, dynamodb, table_name="orders", stream_arn=STREAM)
    assert [c.name for c in found.found] == ["a", "b", "a:live"]
    assert found.watched == ("a", "b") and found.discovered and found.reason is None


def test_discover_lists_mappings_on_an_active_kinesis_destination(clients: Any) -> None:
    lambda_, ls, dynamodb, ds = clients
    ds.add_response("describe_kinesis_streaming_destination", {"TableName": "orders", "KinesisDataStreamDestinations": [
        {"StreamArn": KINESIS, "DestinationStatus": "ACTIVE"},
        {"StreamArn": KINESIS + "-old", "DestinationStatus": "DISABLED"}]}, {"TableName": "orders"})  # fmt: skip
    ls.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping("k", source=KINESIS)]},
                    {"EventSourceArn": KINESIS})  # fmt: skip
    found = discover(lambda_, dynamodb, table_name="orders", stream_arn=None)
    assert [(c.kind, c.name, c.state) for c in found.found] == [("kinesis", "orders-changes", "ACTIVE"),
        ("kinesis", "orders-changes-old", "DISABLED"), ("lambda", "k", "Enabled")]  # fmt: skip
    assert found.watched == ("k",)


def test_named_functions_match_by_name_or_arn_and_the_rest_are_unknown(clients: Any) -> None:
    lambda_, ls, dynamodb, ds = clients
    no_kinesis(ds)
    ls.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping("a"), mapping("b"), mapping("c")]},
                    {"EventSourceArn": STREAM})  # fmt: skip
    found = discover(lambda_, dynamodb, table_name="orders", stream_arn=STREAM, named=("a", arn("b"), "kcl-app"))
    assert [(c.name, c.state, c.named) for c in found.found] == [("a", "Enabled", True), ("b", "Enabled", True),
        ("c", "Enabled", False), ("kcl-app", UNKNOWN, True)]  # fmt: skip
    assert found.watched == ("a", "b", "kcl-app")


def test_nothing_found_is_a_warning(clients: Any) -> None:
    lambda_, ls, dynamodb, ds = clients
    no_kinesis(ds)
    ls.add_response("list_event_source_mappings", {"EventSourceMappings": []}, {"EventSourceArn": STREAM})
    found = discover(lambda_, dynamodb, table_name="orders", stream_arn=STREAM)
    assert found.discovered and not found.found and "no consumer found" in (found.reason or "")
    assert "KCL" in (found.reason or "")


def test_nothing_found_is_said_beside_unreadable_destinations(clients: Any) -> None:
    lambda_, ls, dynamodb, ds = clients
    ds.add_client_error("describe_kinesis_streaming_destination", "UnknownOperationException", "unknown", 400)
    ls.add_response("list_event_source_mappings", {"EventSourceMappings": []}, {"EventSourceArn": STREAM})
    found = discover(lambda_, dynamodb, table_name="orders", stream_arn=STREAM, named=("kcl-bridge",))
    assert found.discovered and [(c.name, c.state) for c in found.found] == [("kcl-bridge", UNKNOWN)]
    assert (found.reason or "").startswith("no consumer found") and "DescribeKinesisStreamingDestination" in (
        found.reason or ""
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("AccessDeniedException", 403, "lambda:ListEventSourceMappings was refused (AccessDeniedException) to your"),
        ("InternalFailure", 500, "lambda:ListEventSourceMappings failed at"),
    ],
)
def test_a_failed_listing_is_not_fatal(clients: Any, code: str, status: int, expected: str) -> None:
    lambda_, ls, dynamodb, ds = clients
    no_kinesis(ds)
    ls.add_client_error("list_event_source_mappings", code, "no", status)
    found = discover(lambda_, dynamodb, table_name="orders", stream_arn=STREAM, caller=OPERATOR)
    assert not found.discovered and not found.found and expected in (found.reason or "")
    assert found.describe() == {"discovered": False, "found": [], "watched": [], "reason": found.reason}
    if status == 403:
        assert 'it needs lambda:ListEventSourceMappings (on "*")' in (found.reason or "")


def test_unreadable_kinesis_destinations_still_list_the_mappings(clients: Any) -> None:
    lambda_, ls, dynamodb, ds = clients
    ds.add_client_error("describe_kinesis_streaming_destination", "UnknownOperationException", "unknown", 400)
    ls.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping("a")]}, {"EventSourceArn": STREAM})
    found = discover(lambda_, dynamodb, table_name="orders", stream_arn=STREAM)
    assert found.discovered and [c.name for c in found.found] == ["a"]
    assert "dynamodb:DescribeKinesisStreamingDestination failed" in (found.reason or "")
