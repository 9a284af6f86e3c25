"""DynamoDB's size limits that a run's settings or key files can reach, checked before the first write: a PartiQL
statement's text (8,192 characters; long attribute names with many FILTER_VALUES reach it), and a key's values
(partition key at most 2,048 bytes, sort key at most 1,024: the DynamoDB Developer Guide, "Service, account, and
table quotas": "Partition key length", "Sort key length")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stream_rerun.errors import ConfigError
from stream_rerun.touch import Pending, Toucher, Variant

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from stream_rerun.config import Settings
    from stream_rerun.filters import ItemFilter
    from stream_rerun.keys import Key
    from stream_rerun.table import TableInfo

MAX_STATEMENT = 8192  # characters of one statement (BatchStatementRequest.Statement)
MAX_HASH_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024


def longest_statement(toucher: Toucher, table: TableInfo) -> int:
    """The longest statement text the touch sends (the key's values are parameters: the text is the same for any
    key)."""
    key = {name: {table.attr_types[name]: "0"} for name in table.key_names}
    return max(len(toucher.statement(Pending(key, variant))["Statement"]) for variant in Variant)


def check_statement(settings: Settings, table: TableInfo, client: DynamoDBClient, only: ItemFilter | None) -> None:
    """ConfigError when the touch's statement would exceed MAX_STATEMENT characters, naming what to shorten."""
    toucher = Toucher(client, table, settings.revision_attribute, settings.marker, settings.run_id, only=only)
    length = longest_statement(toucher, table)
    if length <= MAX_STATEMENT:
        return
    said = f"the touch's UPDATE statement would be {length:,} characters, over DynamoDB's {MAX_STATEMENT:,}"
    if only is not None:
        raise ConfigError(f"FILTER_VALUES: {said} ({len(only.values)} values of FILTER_ATTRIBUTE, "
                          f"{len(only.attribute)} characters long, each repeated in it): give fewer FILTER_VALUES "
                          "(split them over runs with different RUN_IDs)")  # fmt: skip
    raise ConfigError(f"REVISION_ATTRIBUTE/RERUN_MARKER_ATTRIBUTE: {said}: choose shorter attribute names")


def key_size_error(key: Key, table: TableInfo) -> str | None:
    """Why `key` is over DynamoDB's key size limits, or None."""
    limits = zip(table.key_names, (MAX_HASH_KEY_BYTES, MAX_SORT_KEY_BYTES), strict=False)
    for (name, limit), kind in ((pair, table.attr_types[pair[0]]) for pair in limits):
        size = _size(key[name], kind)
        if size > limit:
            role = "partition" if limit == MAX_HASH_KEY_BYTES else "sort"
            return f"{name} is {size:,} bytes, over DynamoDB's {limit:,} for a {role} key"
    return None


def _size(value: dict[str, object], kind: str) -> int:
    raw = value[kind]
    if isinstance(raw, bytes):  # B
        return len(raw)
    return len(str(raw).encode())  # S; a number's 38 digits stay far below the limits
