from __future__ import annotations

import pytest

from stream_rerun.config import Settings, load_settings
from stream_rerun.errors import ConfigError

BASE = {"TABLE_NAME": "orders", "AWS_REGION": "eu-west-1"}


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in {**BASE, **env}.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    with pytest.raises(ConfigError) as exc:
        settings(monkeypatch, **env)
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_partition_selection_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, HASH_KEY_VALUE="cust-1")
    assert (s.hash_key_value, s.revision_attribute, s.marker, s.dry_run) == ("cust-1", "revision", "rerun_id", False)
    assert s.concurrency == 8 and s.log_level == "INFO"


def test_generated_run_ids_are_unique(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = {settings(monkeypatch, HASH_KEY_VALUE="a").run_id for _ in range(50)}
    assert len(ids) == 50


def test_region_from_either_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert settings(monkeypatch, HASH_KEY_VALUE="a").aws_region == "eu-west-1"  # AWS_REGION wins
    monkeypatch.delenv("AWS_REGION")
    assert load_settings().aws_region == "ap-south-1"


def test_missing_region_names_aws_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "orders")
    monkeypatch.setenv("HASH_KEY_VALUE", "a")
    with pytest.raises(ConfigError, match=r"AWS_REGION is not set: set AWS_REGION"):
        load_settings()


def test_empty_marker_disables_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch, HASH_KEY_VALUE="a", RERUN_MARKER_ATTRIBUTE="").marker is None


def test_date_range_is_inclusive_and_formatted(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, GSI_NAME="by_date", GSI_DATE_FROM="20240130", GSI_DATE_TO="20240202",
                 GSI_DATE_FORMAT="%Y%m%d")  # fmt: skip
    assert s.date_range() == ["20240130", "20240131", "20240201", "20240202"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "exactly one selection is needed (found: none)"),
        ({"HASH_KEY_VALUE": "a", "GSI_NAME": "g", "GSI_DATE": "2024-01-01"}, "found: HASH_KEY_VALUE, GSI_DATE"),
        ({"HASH_KEY_VALUE": ""}, "HASH_KEY_VALUE='' is invalid"),
        ({"HASH_KEY_VALUE": "   "}, "HASH_KEY_VALUE='   ' is invalid: must not be blank"),
        ({"GSI_DATE": "2024-01-01"}, "a date selection needs GSI_NAME"),
        ({"GSI_NAME": "g", "GSI_DATE_FROM": "2024-01-01"}, "GSI_DATE_FROM and GSI_DATE_TO go together"),
        ({"GSI_NAME": "g", "GSI_DATE_FROM": "2024-01-05", "GSI_DATE_TO": "2024-01-01"}, "is after GSI_DATE_TO"),
        ({"GSI_NAME": "g", "GSI_DATE_FROM": "05/01/2024", "GSI_DATE_TO": "2024-01-06"}, "does not match"),
        ({"HASH_KEY_VALUE": "a", "DRY_RUN": "maybe"}, "DRY_RUN='maybe' is invalid"),
        ({"HASH_KEY_VALUE": "a", "CONCURRENCY": "0"}, "CONCURRENCY='0' is invalid"),
        ({"HASH_KEY_VALUE": "a", "CONCURRENCY": "many"}, "CONCURRENCY='many' is invalid"),
        ({"HASH_KEY_VALUE": "a", "MAX_ITEMS_PER_SECOND": "-5"}, "MAX_ITEMS_PER_SECOND='-5' is invalid"),
        ({"HASH_KEY_VALUE": "a", "MAX_WCU_PER_SECOND": "nan"}, "MAX_WCU_PER_SECOND='nan' is invalid"),
        ({"HASH_KEY_VALUE": "a", "LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' is invalid"),
        ({"HASH_KEY_VALUE": "a", "RUN_ID": "has space"}, "RUN_ID='has space' is invalid"),
        ({"HASH_KEY_VALUE": "a", "TABLE_NAME": "bad name!"}, "TABLE_NAME='bad name!' is invalid"),
        ({"HASH_KEY_VALUE": "a", "RERUN_MARKER_ATTRIBUTE": "revision"}, "must differ"),
        ({"HASH_KEY_VALUE": "a", "SORT_KEY_FROM": "x"}, "SORT_KEY_FROM and SORT_KEY_TO go together"),
        (
            {"HASH_KEY_VALUE": "a", "SORT_KEY_BEGINS_WITH": "o-", "SORT_KEY_FROM": "a", "SORT_KEY_TO": "b"},
            "exclude each other",
        ),
        ({"ALL_ITEMS": "true", "SORT_KEY_BEGINS_WITH": "o-"}, "SORT_KEY_* narrows a partition or a date"),
        ({"HASH_KEY_VALUE": "a", "FILTER_ATTRIBUTE": "status"}, "FILTER_ATTRIBUTE and FILTER_VALUES go together"),
        (
            {"HASH_KEY_VALUE": "a", "FILTER_ATTRIBUTE": "s", "FILTER_VALUES": "FAILED"},
            "FILTER_VALUES='FAILED' is invalid: is not JSON",
        ),
        ({"HASH_KEY_VALUE": "a", "FILTER_ATTRIBUTE": "s", "FILTER_VALUES": "[]"}, "JSON array of 1 to 50 values"),
        ({"HASH_KEY_VALUE": "a", "FILTER_ATTRIBUTE": "s", "FILTER_VALUES": '[{"S": "x"}]'}, "only strings, numbers"),
        ({"HASH_KEY_VALUE": "a", "FILTER_ATTRIBUTE": "s", "FILTER_VALUES": "[null]"}, "holds null"),
        ({"HASH_KEY_VALUE": "a", "FAILED_KEYS_OUT": "s3://bucket"}, "is not s3://bucket/key"),
    ],
)
def test_invalid_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    assert expected in error(monkeypatch, **env)


def test_env_names_are_the_public_variables() -> None:
    names = Settings.env_names()
    assert {"TABLE_NAME", "HASH_KEY_VALUE", "GSI_DATE_FROM", "DRY_RUN", "RUN_ID", "MAX_WCU_PER_SECOND"} <= set(names)
    assert "AWS_REGION" not in names


def test_filter_values_keep_their_json_types(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, HASH_KEY_VALUE="a", FILTER_ATTRIBUTE="status", FILTER_VALUES='["FAILED", 3, 2.5, true]')
    assert s.filter_values == ("FAILED", 3, 2.5, True) and isinstance(s.filter_values[3], bool)
