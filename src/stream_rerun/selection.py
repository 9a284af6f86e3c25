"""Key sources: which items a run selects. Each yields pages of primary keys; none knows how keys are written."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from stream_rerun.aws import call
from stream_rerun.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from stream_rerun.config import Settings
    from stream_rerun.table import TableInfo

Key = dict[str, Any]  # a primary key in DynamoDB JSON: {"pk": {"S": "a"}, "sk": {"N": "1"}}
# Keys per Query page. Pages are otherwise up to 1 MB of items (thousands of keys); a fixed page keeps the worker's
# memory flat whatever the item size, and the prefetch thread hides the extra round trips.
PAGE_SIZE = 1000


@dataclass(frozen=True)
class PartitionQuery:
    """Query one partition of the table, or of an index, for the table's primary keys."""

    index: str | None
    key_name: str
    value: Key


def plain_key(key: Key) -> dict[str, Any]:
    """A key as plain JSON for logs: strings and numbers as such, binary as base64."""
    out: dict[str, Any] = {}
    for name, value in key.items():
        kind, raw = next(iter(value.items()))
        out[name] = base64.b64encode(raw).decode() if kind == "B" else raw
    return out


def plan(settings: Settings, table: TableInfo) -> list[PartitionQuery]:
    """The queries that make up the selection, with values typed from the key schema. Raises ConfigError."""
    if settings.hash_key_value is not None:
        value = typed("HASH_KEY_VALUE", settings.hash_key_value, table.attr_types[table.hash_key])
        return [PartitionQuery(None, table.hash_key, value)]
    index = table.indexes[settings.gsi_name or ""]
    kind = table.attr_types[index.hash_key]
    if settings.gsi_date is not None:
        return [PartitionQuery(index.name, index.hash_key, typed("GSI_DATE", settings.gsi_date, kind))]
    try:
        dates = settings.date_range()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return [PartitionQuery(index.name, index.hash_key, typed("GSI_DATE_FROM", day, kind)) for day in dates]


def typed(var: str, raw: str, kind: str) -> Key:
    """A string from the environment as a DynamoDB AttributeValue of type `kind` (S, N or B as base64)."""
    if kind == "S":
        return {"S": raw}
    if kind == "N":
        try:
            number = Decimal(raw)
        except InvalidOperation:
            number = Decimal("NaN")
        if not _storable(number) or raw != raw.strip():
            raise ConfigError(f"{var}={raw!r} is not a number, but the key is of type N: give a number such as 42")
        return {"N": raw}
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data:
        raise ConfigError(f"{var}={raw!r} is not base64, but the key is of type B: give the bytes base64-encoded")
    return {"B": data}


def _storable(number: Decimal) -> bool:
    """DynamoDB numbers: finite, up to 38 significant digits, magnitude 1E-130 to below 1E126."""
    if not number.is_finite():
        return False
    if number == 0:
        return True
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")
    return len(digits) <= 38 and Decimal("1E-130") <= abs(number) < Decimal("1E126")


def key_pages(client: DynamoDBClient, table: TableInfo, queries: list[PartitionQuery]) -> Iterator[list[Key]]:
    """Yield the selection page by page (PAGE_SIZE keys, or 1 MB read, at most), reading key attributes only."""
    names = {f"#k{i}": name for i, name in enumerate(table.key_names)}
    for query in queries:
        params: dict[str, Any] = {
            "TableName": table.name,
            "KeyConditionExpression": "#q = :q",
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": {**names, "#q": query.key_name},
            "ExpressionAttributeValues": {":q": query.value},
            "Limit": PAGE_SIZE,
        }
        if query.index:
            params["IndexName"] = query.index
        while True:
            page = call(client.query, "querying the selection", **params)
            yield [{name: item[name] for name in table.key_names} for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
