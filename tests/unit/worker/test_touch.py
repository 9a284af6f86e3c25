"""Statement building and per-statement outcome classification (the answers are DynamoDB's documented shapes)."""

from __future__ import annotations

from typing import Any

import pytest

from stream_rerun.filters import ItemFilter
from stream_rerun.table import TableInfo
from stream_rerun.touch import BatchResult, Outcome, Pending, Toucher, Variant, dedupe

TABLE = TableInfo("orders", ("user", "date"), {"user": "S", "date": "N"}, {}, "dynamodb:NEW_AND_OLD_IMAGES", 0, 0)
KEY = {"user": {"S": "u1"}, "date": {"N": "5"}}


class FakeClient:
    """Answers BatchExecuteStatement with the given per-statement errors (None: success)."""

    def __init__(self, *errors: Any, consumed: float | None = None) -> None:
        self.errors = errors
        self.consumed = consumed
        self.sent: list[Any] = []

    def batch_execute_statement(self, **kwargs: Any) -> Any:
        self.sent.append(kwargs)
        answers = [{"TableName": "orders", **({"Error": e} if e else {})} for e in self.errors]
        out: dict[str, Any] = {"Responses": answers}
        if self.consumed is not None:
            out["ConsumedCapacity"] = [{"TableName": "orders", "CapacityUnits": self.consumed}]
        return out


def toucher(client: Any = None, marker: str | None = "rerun_id") -> Toucher:
    return Toucher(client or FakeClient(), TABLE, "revision", marker, "run-7")


def test_statements_quote_names_and_parametrise_only_the_key() -> None:
    # The increment and RUN_ID are the same in every statement: literals, so botocore serialises two parameters
    # per statement, not five.
    inc = toucher().statement(Pending(KEY))
    assert inc["Statement"] == (
        'UPDATE "orders" SET "revision" = "revision" + 1 SET "rerun_id" = \'run-7\' WHERE "user" = ? AND "date" = ? '
        'AND ("rerun_id" IS MISSING OR "rerun_id" <> \'run-7\')'
    )
    assert inc["Parameters"] == [{"S": "u1"}, {"N": "5"}]
    assert inc["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    init = toucher().statement(Pending(KEY, Variant.INIT))
    assert '"revision" = 1 SET' in init["Statement"] and 'AND "revision" IS MISSING AND' in init["Statement"]
    assert init["Parameters"] == inc["Parameters"]


def test_without_marker_only_existence_is_the_condition() -> None:
    stmt = toucher(marker=None).statement(Pending(KEY))
    assert stmt["Statement"] == 'UPDATE "orders" SET "revision" = "revision" + 1 WHERE "user" = ? AND "date" = ?'
    assert stmt["Parameters"] == [{"S": "u1"}, {"N": "5"}]


def test_double_quote_in_a_name_and_a_quote_in_the_run_id_are_escaped() -> None:
    t = Toucher(FakeClient(), TABLE, 'rev"x', "rerun_id", "it's")
    assert '"rev""x" = "rev""x" + 1' in t.statement(Pending(KEY))["Statement"]
    assert "\"rerun_id\" <> 'it''s')" in t.statement(Pending(KEY))["Statement"]


def classify(error: Any, variant: Variant = Variant.INCREMENT) -> BatchResult:
    return toucher(FakeClient(error, consumed=2.5)).send([Pending(KEY, variant)])


CCF = "ConditionalCheckFailed"


@pytest.mark.parametrize(
    ("error", "variant", "outcome"),
    [
        (None, Variant.INCREMENT, Outcome.TOUCHED),
        ({"Code": CCF}, Variant.INCREMENT, Outcome.VANISHED),
        ({"Code": CCF, "Item": {**KEY, "rerun_id": {"S": "run-7"}}}, Variant.INCREMENT, Outcome.ALREADY_DONE),
        ({"Code": CCF, "Item": {**KEY, "revision": {"S": "x"}}}, Variant.INIT, Outcome.FAILED),
        ({"Code": "ValidationError", "Message": "bad"}, Variant.INIT, Outcome.FAILED),
        ({"Code": "AccessDenied", "Message": "no"}, Variant.INCREMENT, Outcome.FAILED),
    ],
)
def test_settled_outcomes(error: Any, variant: Variant, outcome: Outcome) -> None:
    result = classify(error, variant)
    assert [o for _, o, _ in result.settled] == [outcome]
    assert result.consumed_wcu == 2.5 and not result.again and not result.throttled


@pytest.mark.parametrize(
    ("error", "variant", "next_variant"),
    [
        ({"Code": "ValidationError", "Message": "attribute that does not exist"}, Variant.INCREMENT, Variant.INIT),
        ({"Code": CCF, "Item": {**KEY, "revision": {"N": "3"}}}, Variant.INIT, Variant.INCREMENT),
        ({"Code": CCF, "Item": {**KEY, "rerun_id": {"S": "other"}}}, Variant.INCREMENT, Variant.INIT),
    ],
)
def test_revision_missing_or_appearing_switches_statement(error: Any, variant: Variant, next_variant: Variant) -> None:
    result = classify(error, variant)
    assert [p.variant for p in result.again] == [next_variant] and not result.settled


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceeded", "ThrottlingError", "RequestLimitExceeded"])
def test_throttled_statements_are_resent(code: str) -> None:
    result = classify({"Code": code})
    assert [p.key for p in result.throttled] == [KEY] and not result.settled


def test_failed_revision_detail_names_the_attribute_and_type() -> None:
    result = classify({"Code": CCF, "Item": {**KEY, "revision": {"SS": ["a"]}}}, Variant.INIT)
    assert result.settled[0][2].startswith("revision holds a value of type SS, not a number")


def test_an_item_the_increment_refuses_for_its_own_reason_fails_alone_with_dynamodbs_message() -> None:
    # GIVEN an item whose increment is refused although its revision is a number (the item would exceed 400 KB)
    too_big = {"Code": "ValidationError", "Message": "Item size to update has exceeded the maximum allowed size"}
    first = classify(too_big)
    # THEN it is tried once as the create-at-1 statement, whose condition fails because the revision exists ...
    assert [p.variant for p in first.again] == [Variant.INIT]
    exists = {"Code": CCF, "Item": {**KEY, "revision": {"N": "5"}}}
    second = toucher(FakeClient(exists)).send(first.again)
    # ... and it fails with DynamoDB's own message instead of switching back (the old ping-pong spent the budget)
    assert not second.again and not second.throttled
    assert second.settled == [(KEY, Outcome.FAILED, "ValidationError: " + too_big["Message"])]


def test_variant_switches_are_bounded() -> None:
    pending = Pending(KEY)
    for _ in range(10):
        result = toucher(FakeClient({"Code": CCF, "Item": {**KEY, "rerun_id": {"S": "other"}}})).send([pending])
        if result.settled:
            break
        pending = result.again[0]
        result = toucher(FakeClient({"Code": CCF, "Item": {**KEY, "revision": {"N": "1"}}})).send([pending])
        if result.settled:
            break
        pending = result.again[0]
    assert result.settled[0][1] is Outcome.FAILED and "kept changing" in result.settled[0][2]


def test_a_filter_is_part_of_the_condition_and_decides_filtered_out() -> None:
    # GIVEN a touch of items whose status is FAILED or 3
    only = ItemFilter.of("status", ("FAILED", 3))
    client = FakeClient(*[{"Code": "ConditionalCheckFailed", "Item": item} for item in (
        {**KEY, "status": {"S": "OK"}, "revision": {"N": "1"}},  # changed since it was read
        {**KEY, "revision": {"N": "1"}},  # no status at all
        {**KEY, "status": {"S": "OK"}, "rerun_id": {"S": "run-7"}},  # this run touched it before it changed
        {**KEY, "status": {"N": "3.0"}, "revision": {"S": "x"}},  # matches (3.0 is 3): the revision is the problem
    )])  # fmt: skip
    touch = Toucher(client, TABLE, "revision", "rerun_id", "run-7", only=only)
    # THEN the statement carries the condition and its values after the key and marker
    stmt = touch.statement(Pending(KEY))
    assert stmt["Statement"].endswith('AND ("status" = ? OR "status" = ?)')
    assert stmt["Parameters"][-2:] == [{"S": "FAILED"}, {"N": "3"}]
    # AND a refused item is filtered_out only when it does not hold a value and was not touched by this run
    outcomes = [o for _, o, _ in touch.send([Pending(KEY)] * 4).settled]
    assert outcomes == [Outcome.FILTERED_OUT, Outcome.FILTERED_OUT, Outcome.ALREADY_DONE, Outcome.FAILED]


def test_filter_values_are_typed_from_json() -> None:
    only = ItemFilter.of("a", ("x", 2, 2.5, False))
    assert only is not None and only.values == ({"S": "x"}, {"N": "2"}, {"N": "2.5"}, {"BOOL": False})
    assert only.matches({"a": {"N": "2.50"}}) and not only.matches({"a": {"S": "2"}}) and not only.matches({})
    assert only.expression()["FilterExpression"] == "#f IN (:f0, :f1, :f2, :f3)"


@pytest.mark.parametrize("code", ["AccessDenied", "ResourceNotFound"])
def test_a_statement_refused_for_access_or_table_is_fatal(code: str) -> None:
    result = toucher(FakeClient(None, {"Code": code, "Message": "no"})).send([Pending(KEY), Pending(KEY)])
    assert result.fatal == (code, "no") and [o for _, o, _ in result.settled] == [Outcome.TOUCHED, Outcome.FAILED]


def test_repeated_keys_are_taken_out_of_a_batch_numbers_compared_as_numbers() -> None:
    other = {"user": {"S": "u2"}, "date": {"N": "5"}}
    unique, repeats = dedupe([KEY, other, {"date": {"N": "5.0"}, "user": {"S": "u1"}}, dict(other)])
    assert unique == [KEY, other] and len(repeats) == 2
