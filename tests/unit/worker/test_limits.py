"""DynamoDB's limits checked before the first write: the touch's statement length and a key file's key sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream_rerun.config import Settings
from stream_rerun.errors import ConfigError
from stream_rerun.filters import ItemFilter
from stream_rerun.limits import MAX_STATEMENT, check_statement
from stream_rerun.sources import keyfile
from stream_rerun.sources._files import opener
from stream_rerun.table import TableInfo

TABLE = TableInfo("orders", ("pk", "sk"), {"pk": "S", "sk": "B"}, {}, "dynamodb:NEW_AND_OLD_IMAGES", 0, 0)


def settings(**env: str) -> Settings:
    return Settings.model_validate({"table_name": "orders", "hash_key_value": "p", "AWS_REGION": "eu-west-1", **env})


def test_a_long_filter_attribute_with_many_values_is_refused_naming_filter_values() -> None:
    values = json.dumps([f"v{n}" for n in range(50)])
    s = settings(filter_attribute="a" * 200, filter_values=values)
    only = ItemFilter.of(s.filter_attribute, s.filter_values)
    with pytest.raises(ConfigError, match=rf"^FILTER_VALUES: the touch's UPDATE statement would be [\d,]+ characters, "
                                          rf"over DynamoDB's {MAX_STATEMENT:,}"):  # fmt: skip
        check_statement(s, TABLE, None, only)  # type: ignore[arg-type]


def test_a_statement_within_the_limit_passes() -> None:
    s = settings(filter_attribute="a" * 100, filter_values=json.dumps([f"v{n}" for n in range(50)]))
    check_statement(s, TABLE, None, ItemFilter.of(s.filter_attribute, s.filter_values))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (json.dumps({"pk": "x" * 2049, "sk": "AA=="}), "pk is 2,049 bytes, over DynamoDB's 2,048 for a partition key"),
        (json.dumps({"pk": "é" * 1025, "sk": "AA=="}), "pk is 2,050 bytes"),  # bytes of UTF-8, not characters
        (json.dumps({"pk": "x", "sk": "A" * 1368}), "sk is 1,026 bytes, over DynamoDB's 1,024 for a sort key"),
    ],
)
def test_a_key_over_dynamodbs_size_limits_is_refused_with_its_line_number(
    tmp_path: Path, line: str, error: str
) -> None:
    path = tmp_path / "keys.jsonl"
    fits = json.dumps({"pk": "x" * 2048, "sk": "A" * 1364})  # 2,048 and 1,023 bytes: at the limits
    path.write_text(fits + "\n" + line + "\n")
    with pytest.raises(ConfigError, match=f"has 1 malformed lines: line 2: {error}"):
        keyfile.check(opener(str(path), lambda: None), TABLE, str(path))
