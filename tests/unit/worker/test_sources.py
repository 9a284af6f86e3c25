"""The key sources' registry and protocol, without a network: which source the settings choose, what preflight and
`describe()` say, and that WORKER_COUNT workers share a whole-table run's segments without overlap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stream_rerun import sources
from stream_rerun.config import Settings
from stream_rerun.errors import ConfigError
from stream_rerun.sources.export import ExportSource
from stream_rerun.sources.index_dates import IndexDatesSource
from stream_rerun.sources.keyfile import KeyFileSource
from stream_rerun.sources.partition import PartitionSource
from stream_rerun.sources.whole_table import WholeTableSource
from stream_rerun.table import IndexInfo, TableInfo

TABLE = TableInfo("orders", ("pk", "sk"), {"pk": "S", "sk": "N", "day": "S"},
                  {"by_date": IndexInfo("by_date", "day", "ACTIVE", range_key="sk")}, "dynamodb:NEW_IMAGE",
                  item_count=900, size_bytes=5 * 1024**3)  # fmt: skip


def settings(**env: str) -> Settings:
    """Settings from these values only (never the developer's environment)."""
    return Settings.model_validate({"table_name": "orders", "AWS_REGION": "eu-west-1", **env})


class FakeScan:
    """A DynamoDB client whose Scan returns one key per segment, named after it, and records the calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def scan(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        return {"Items": [{"pk": {"S": f"seg-{params['Segment']}"}, "sk": {"N": "1"}}]}


def source(env: dict[str, str], client: Any = None) -> sources.Source:
    return sources.source_for(settings(**env), TABLE, client, lambda: None)


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({"hash_key_value": "c1"}, PartitionSource),
        ({"gsi_name": "by_date", "gsi_date": "2024-01-01"}, IndexDatesSource),
        ({"gsi_name": "by_date", "gsi_date_from": "2024-01-01", "gsi_date_to": "2024-01-03"}, IndexDatesSource),
        ({"all_items": "true"}, WholeTableSource),
    ],
)
def test_the_settings_choose_one_source(env: dict[str, str], kind: type) -> None:
    assert type(source(env)) is kind


def test_keys_file_chooses_a_key_file_or_an_export_by_what_it_names(tmp_path: Path) -> None:
    # GIVEN a file and a folder
    (tmp_path / "keys.jsonl").write_text('{"pk": "c1", "sk": 1}\n')
    # THEN a file is a key list, a folder (local, or s3:// ending in /) an export
    assert type(source({"keys_file": str(tmp_path / "keys.jsonl")})) is KeyFileSource
    assert type(source({"keys_file": str(tmp_path)})) is ExportSource
    assert type(source({"keys_file": "s3://bucket/exports/AWSDynamoDB/01234/"})) is ExportSource
    assert type(source({"keys_file": "s3://bucket/keys.jsonl"})) is KeyFileSource


@pytest.mark.parametrize(
    ("env", "distinct"),
    [
        ({"hash_key_value": "c1"}, True),
        ({"gsi_name": "by_date", "gsi_date": "2024-01-01"}, True),
        ({"all_items": "true"}, True),
        ({"keys_file": "s3://bucket/keys.jsonl"}, False),
        ({"keys_file": "s3://bucket/exports/AWSDynamoDB/01234/"}, False),
    ],
)
def test_only_query_and_scan_pages_are_declared_free_of_repeats(env: dict[str, str], distinct: bool) -> None:
    # A Query or Scan response page names an item once; a key file or an export's lines may name one twice
    assert getattr(source(env), "distinct_pages", False) is distinct


def test_every_kind_names_its_variables_in_the_order_the_error_lists_them() -> None:
    names = [name for kind in sources.KINDS for name in kind.chosen_by]
    assert names == [
        "HASH_KEY_VALUE", "GSI_DATE", "GSI_DATE_FROM/GSI_DATE_TO", "KEYS_FILE", "KEYS_FILE", "CHANGED_FROM",
        "ALL_ITEMS", "FAILED_BATCHES_FROM",
    ]  # fmt: skip


def test_a_partition_is_described_by_its_variables_and_its_total_is_unknown() -> None:
    # GIVEN a partition run whose task definition also sets GSI_NAME
    one = source({"hash_key_value": "c1", "gsi_name": "by_date", "sort_key_from": "1", "sort_key_to": "9"})
    one.check()
    assert one.describe() == {
        "selection": {"hash_key_value": "c1", "gsi_name": "by_date", "sort_key_from": "1", "sort_key_to": "9"},
        "selected_total": None,
        "selected_total_approximate": False,
    }


def test_preflight_types_the_values_from_the_key_schema() -> None:
    with pytest.raises(ConfigError, match="SORT_KEY_FROM='x' is not a number"):
        source({"hash_key_value": "c1", "sort_key_from": "x", "sort_key_to": "9"}).check()
    with pytest.raises(ConfigError, match="GSI_NAME 'nope' is not an index of table 'orders'"):
        source({"gsi_name": "nope", "gsi_date": "2024-01-01"}).check()


def test_workers_share_the_segments_of_a_whole_table_run() -> None:
    # GIVEN three workers of one RUN_ID over 5 GiB (three default segments: one per 2 GiB, rounded up)
    clients = [FakeScan() for _ in range(3)]
    shares = [source({"all_items": "true", "worker_index": str(i), "worker_count": "3", "run_id": "r"}, clients[i])
              for i in range(3)]  # fmt: skip
    # WHEN each checks and reads its share
    for share in shares:
        share.check()
    read = [[key["pk"]["S"] for page in share.pages() for key in page] for share in shares]
    # THEN every segment is read once, each worker's describe() counts its share of the approximate total
    assert sorted(key for share in read for key in share) == ["seg-0", "seg-1", "seg-2"]
    assert {call["TotalSegments"] for c in clients for call in c.calls} == {3}
    assert [s.describe()["selection"]["worker"] for s in shares] == ["1 of 3", "2 of 3", "3 of 3"]
    assert [s.describe()["selected_total"] for s in shares] == [300, 300, 300]
    assert all(s.describe()["selected_total_approximate"] for s in shares)


def test_a_key_file_is_checked_whole_and_shared_line_by_line(tmp_path: Path) -> None:
    # GIVEN five keys, read by worker 2 of 2
    path = tmp_path / "keys.jsonl"
    path.write_text("".join(json.dumps({"pk": f"c{n}", "sk": n}) + "\n" for n in range(5)))
    mine = source({"keys_file": str(path), "worker_index": "1", "worker_count": "2"})
    # WHEN it checks and reads
    mine.check()
    # THEN it takes every second key from the second, and says so
    assert [key["pk"]["S"] for page in mine.pages() for key in page] == ["c1", "c3"]
    assert mine.describe()["selection"] == {"keys_file": str(path), "keys_in_file": 5, "worker": "2 of 2"}
    assert mine.describe()["selected_total"] == 2
