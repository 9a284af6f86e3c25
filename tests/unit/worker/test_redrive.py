"""Where the re-drive file goes, and what it holds (a KEYS_FILE reads it back)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_rerun.config import Settings
from stream_rerun.errors import ConfigError
from stream_rerun.redrive import RedriveFile, location_of
from stream_rerun.sources._files import parse_key
from stream_rerun.table import TableInfo


def settings(out: str, index: int = 0, count: int = 1) -> Settings:
    return Settings.model_validate({"table_name": "orders", "AWS_REGION": "eu-west-1", "keys_file": "k",
                                    "failed_keys_out": out, "run_id": "r-9", "worker_index": index,
                                    "worker_count": count})  # fmt: skip


@pytest.mark.parametrize(
    ("out", "index", "count", "expected"),
    [("s3://b/redrive/", 0, 1, "s3://b/redrive/r-9.jsonl"),
     ("s3://b/redrive/", 1, 3, "s3://b/redrive/r-9.worker-2-of-3.jsonl"),
     ("/var/out/failed.jsonl", 0, 2, "/var/out/failed.worker-1-of-2.jsonl"),
     ("/var/out.d/failed", 0, 2, "/var/out.d/failed.worker-1-of-2"),
     ("/var/out/failed.jsonl", 0, 1, "/var/out/failed.jsonl")],
)  # fmt: skip
def test_each_worker_writes_its_own_file(out: str, index: int, count: int, expected: str) -> None:
    assert location_of(settings(out, index, count)) == expected


def test_the_file_reads_back_as_the_same_keys(tmp_path: Path) -> None:
    table = TableInfo("t", ("pk", "sk"), {"pk": "B", "sk": "N"}, {}, "dynamodb:NEW_IMAGE", 0, 0)
    keys = [{"pk": {"B": b"\x00\xff"}, "sk": {"N": "12.5"}}, {"pk": {"B": b"a"}, "sk": {"N": "-1"}}]
    path = tmp_path / "out.jsonl"
    redrive = RedriveFile(str(path), lambda: None)
    redrive.add(keys)
    assert not path.exists()  # spooled beside it until the run ends
    redrive.close()
    assert [parse_key(line, table) for line in path.read_text().splitlines()] == keys and redrive.count == 2


def test_a_folder_that_does_not_exist_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"FAILED_KEYS_OUT .* cannot be written"):
        RedriveFile(str(tmp_path / "missing" / "out.jsonl"), lambda: None)
