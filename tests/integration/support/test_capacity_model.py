"""The capacity model itself (tests/support/capacity.py), against DynamoDB Local: what it charges, when it
throttles, and that a lost answer was applied. The worker's own tests rely on these behaviours."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from stream_rerun_dev import emulator
from tests.support.capacity import CapacityModel, CapacityProxy, attribute_size, item_size
from tests.support.items import item

UPDATE = 'UPDATE "{t}" SET "revision" = "revision" + ? SET "rerun_id" = ? WHERE "pk" = ? AND "sk" = ?'


def touch(table: str, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"Statement": UPDATE.format(t=table),
             "Parameters": [{"N": "1"}, {"S": "r"}, {"S": pk}, {"S": sk}]} for pk, sk in keys]  # fmt: skip


def test_item_sizes_follow_dynamodbs_rules() -> None:
    assert attribute_size({"S": "héllo"}) == 6 and attribute_size({"N": "12345"}) == 4
    assert attribute_size({"B": b"\x00" * 10}) == 10 and attribute_size({"BOOL": True}) == 1
    assert item_size({"pk": {"S": "a"}, "revision": {"N": "1"}}) == 2 + 1 + 8 + 2


@pytest.mark.parametrize(("projection", "per_item"), [("KEYS_ONLY", 5), ("ALL", 10)])
def test_a_touch_costs_its_size_and_an_all_index_costs_it_again(
    endpoint: str, ddb: Any, make_table: Any, projection: str, per_item: int
) -> None:
    table = make_table(projection=projection)
    emulator.put_items(ddb, table, [item("p", str(n), day="d1", revision=1, blob="x" * 4100) for n in range(4)])
    with CapacityProxy(endpoint) as proxy:
        client = emulator.ddb(proxy.endpoint)
        answer = client.batch_execute_statement(
            Statements=touch(table, [("p", str(n)) for n in range(4)]), ReturnConsumedCapacity="TOTAL"
        )
    assert all("Error" not in r for r in answer["Responses"])
    assert answer["ConsumedCapacity"][0]["CapacityUnits"] == 4 * per_item


def test_a_partition_over_its_rate_is_throttled_per_statement(endpoint: str, ddb: Any, make_table: Any) -> None:
    table = make_table()
    emulator.put_items(ddb, table, [item("p", f"{n:03}", revision=1) for n in range(50)])
    with CapacityProxy(endpoint, CapacityModel(partition_wcu=20, burst_s=1.0)) as proxy:
        client = emulator.ddb(proxy.endpoint)
        answer = client.batch_execute_statement(Statements=touch(table, [("p", f"{n:03}") for n in range(25)]))
    codes = [r.get("Error", {}).get("Code") for r in answer["Responses"]]
    assert codes.count(None) == 20 and codes.count("ProvisionedThroughputExceeded") == 5
    revisions = [ddb.get_item(TableName=table, Key=item("p", f"{n:03}"))["Item"]["revision"]["N"] for n in range(25)]
    assert revisions == ["2"] * 20 + ["1"] * 5  # the throttled statements were not applied


def test_a_lost_answer_was_applied(endpoint: str, ddb: Any, make_table: Any) -> None:
    table = make_table()
    emulator.put_items(ddb, table, [item("p", "a", revision=1)])
    with CapacityProxy(endpoint, CapacityModel(lose_share=1.0)) as proxy:
        client = emulator.client_with(proxy.endpoint, max_attempts=1)
        with pytest.raises(ConnectionClosedError):
            client.batch_execute_statement(Statements=touch(table, [("p", "a")]))
    assert ddb.get_item(TableName=table, Key=item("p", "a"))["Item"]["revision"] == {"N": "2"}


def test_injected_statement_errors_and_refused_requests_apply_nothing(endpoint: str, ddb: Any, make_table: Any) -> None:
    table = make_table()
    emulator.put_items(ddb, table, [item("p", f"{n}", revision=1) for n in range(4)])
    with CapacityProxy(endpoint, CapacityModel(error_code="AccessDenied", error_share=1.0)) as proxy:
        answer = emulator.ddb(proxy.endpoint).batch_execute_statement(Statements=touch(table, [("p", "0")]))
    assert answer["Responses"][0]["Error"]["Code"] == "AccessDenied" and proxy.errors == 1
    with CapacityProxy(endpoint, CapacityModel(invalid_keys=frozenset({"2"}))) as proxy:
        client = emulator.client_with(proxy.endpoint, max_attempts=1)
        with pytest.raises(ClientError, match="ValidationException"):
            client.batch_execute_statement(Statements=touch(table, [("p", "1"), ("p", "2")]))
    revisions = [ddb.get_item(TableName=table, Key=item("p", f"{n}"))["Item"]["revision"]["N"] for n in range(4)]
    assert revisions == ["1"] * 4


def test_a_held_answer_never_comes_and_is_not_applied(endpoint: str, ddb: Any, make_table: Any) -> None:
    table = make_table()
    emulator.put_items(ddb, table, [item("p", "a", revision=1)])
    with CapacityProxy(endpoint) as proxy, proxy.hold():
        client = boto3.session.Session().client(
            "dynamodb", endpoint_url=proxy.endpoint, region_name="us-east-1", aws_access_key_id="x",
            aws_secret_access_key="x", config=Config(read_timeout=1, retries={"total_max_attempts": 1}),
        )  # fmt: skip
        with pytest.raises(ReadTimeoutError):
            client.batch_execute_statement(Statements=touch(table, [("p", "a")]))
    assert proxy.held == 1
    assert ddb.get_item(TableName=table, Key=item("p", "a"))["Item"]["revision"] == {"N": "1"}


def test_a_hot_partition_throttles_the_request_with_a_key_range_reason_and_a_gsi_its_own_bucket(
    endpoint: str, ddb: Any, make_table: Any
) -> None:
    table = make_table(projection="ALL")
    emulator.put_items(ddb, table, [item(pk, f"{n:02}", day="d", revision=1) for pk in "hc" for n in range(20)])
    # partition h serves 2 units/s with a burst of 5 (2.5 s to refill), the index 12 a second (a second of burst);
    # items are 1 unit, and 1 more in the index
    model = CapacityModel(partition_limits={"h": 2.0}, partition_burst_s=2.5, key_range_errors=True,
                          index_wcu={"by_date": 12.0})  # fmt: skip
    with CapacityProxy(endpoint, model) as proxy:
        client = emulator.client_with(proxy.endpoint, max_attempts=1)
        first = client.batch_execute_statement(Statements=touch(table, [("h", f"{n:02}") for n in range(5)]))
        assert all("Error" not in r for r in first["Responses"])
        with pytest.raises(ClientError) as refused:  # partition h is spent: the whole request, with the reason
            client.batch_execute_statement(Statements=touch(table, [("h", f"{n:02}") for n in range(5, 15)]))
        reasons = refused.value.response["throttlingReasons"]  # type: ignore[typeddict-item]
        assert [r["reason"] for r in reasons] == ["TableWriteKeyRangeThroughputExceeded"]
        # partition c is fresh, but the index has about 7 units left: the rest is throttled per statement
        answer = client.batch_execute_statement(Statements=touch(table, [("c", f"{n:02}") for n in range(20)]))
        admitted = [r.get("Error", {}).get("Code") for r in answer["Responses"]].count(None)
        assert 7 <= admitted < 20 and proxy.key_range_throttled == 1  # (the bucket refills meanwhile)
        assert proxy.rate("by_date")[0] == 5 + admitted


def test_a_read_is_charged_for_the_items_it_read_before_the_filter(endpoint: str, ddb: Any, make_table: Any) -> None:
    # 10 items of ~1 KB (10 KB read): 3 units of 4 KB consistent, 1.5 eventually consistent; a filter that keeps
    # none and a keys-only projection change nothing
    table = make_table()
    emulator.put_items(ddb, table, [item("p", f"{n:02}", blob="x" * 1000, status="miss") for n in range(10)])
    query = {"TableName": table, "KeyConditionExpression": "#q = :q", "FilterExpression": "#f = :f",
             "ProjectionExpression": "#q", "ExpressionAttributeNames": {"#q": "pk", "#f": "status"},
             "ExpressionAttributeValues": {":q": {"S": "p"}, ":f": {"S": "hit"}},
             "ReturnConsumedCapacity": "TOTAL"}  # fmt: skip
    with CapacityProxy(endpoint) as proxy:
        client = emulator.client_with(proxy.endpoint, max_attempts=1)
        strong = client.query(**query, ConsistentRead=True)
        weak = client.query(**query)
        proxy.throttle_reads(1)
        with pytest.raises(ClientError, match="ProvisionedThroughputExceededException"):
            client.query(**query)
    assert strong["Items"] == [] and strong["ConsumedCapacity"]["CapacityUnits"] == 3.0
    assert weak["ConsumedCapacity"]["CapacityUnits"] == 1.5
    assert proxy.read_throttled == 1 and [units for _, units, _ in proxy.reads] == [3.0, 1.5]
