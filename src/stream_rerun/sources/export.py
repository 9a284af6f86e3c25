"""KEYS_FILE naming a DynamoDB export's folder (`s3://bucket/prefix/AWSDynamoDB/<export-id>/`, or a local copy):
the key source for a table of any size that costs no read capacity.

The folder holds `manifest-summary.json` (format, item count), `manifest-files.json` (one line per data file with
its item count) and `data/*.json.gz` with one `{"Item": {...}}` line per item, which _files.parse_key reads. Data
files are found by name under the folder's own `data/` (so a copied export works too). Each of WORKER_COUNT tasks
takes every N-th data file; each file's lines are counted against the manifest as they stream by.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import ConfigError, RunAbortedError
from stream_rerun.keys import in_pages
from stream_rerun.sources._base import PAGE_SIZE, Context, Kind, described, worker_label
from stream_rerun.sources._files import is_export, opener, parse_key

if TYPE_CHECKING:
    from stream_rerun.config import Settings
    from stream_rerun.keys import Key
    from stream_rerun.table import TableInfo

log = logging.getLogger(__name__)

SUMMARY = "manifest-summary.json"
FILES = "manifest-files.json"


@dataclass(frozen=True)
class DataFile:
    location: str
    items: int  # the manifest's itemCount for the file


@dataclass(frozen=True)
class Export:
    folder: str
    arn: str
    table_arn: str
    items: int
    files: tuple[DataFile, ...]

    def share(self, index: int, count: int) -> list[DataFile]:
        """Worker `index`'s data files: every `count`-th from `index`."""
        return list(self.files[index::count])


def _join(folder: str, name: str) -> str:
    return folder + name if folder.startswith("s3://") else str(Path(folder) / name)


def _read_text(location: str, s3: Callable[[], Any]) -> Iterator[str]:
    try:
        yield from opener(location, s3)()
    except ConfigError as exc:
        raise ConfigError(f"{exc} (KEYS_FILE names a folder, so it must be a DynamoDB export's)") from None


def read(folder: str, s3: Callable[[], Any]) -> Export:
    """The export's manifests, checked: DYNAMODB_JSON, and the files' counts adding up. Raises ConfigError."""
    folder = folder if folder.endswith("/") or not folder.startswith("s3://") else folder + "/"
    try:
        summary = json.loads("\n".join(_read_text(_join(folder, SUMMARY), s3)))
        files = [json.loads(line) for line in _read_text(_join(folder, FILES), s3) if line.strip()]
        data = tuple(DataFile(_join(folder, "data/" + posixpath.basename(f["dataFileS3Key"])), int(f["itemCount"]))
                     for f in files)  # fmt: skip
        total = int(summary["itemCount"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"KEYS_FILE {folder}: the export's manifests are malformed ({type(exc).__name__}: {exc}): "
                          "give the folder of a completed export, unchanged") from None  # fmt: skip
    kind = summary.get("outputFormat", "DYNAMODB_JSON")
    if kind != "DYNAMODB_JSON":
        raise ConfigError(f"KEYS_FILE {folder} is an export in {kind} format: export again with "
                          "ExportFormat=DYNAMODB_JSON (the only format the worker reads)")  # fmt: skip
    listed = sum(f.items for f in data)
    if listed != total:
        raise ConfigError(f"KEYS_FILE {folder}: {FILES} lists {listed} items, {SUMMARY} says {total}: the export "
                          "is incomplete; give the folder of a completed export")  # fmt: skip
    return Export(folder, str(summary.get("exportArn", "")), str(summary.get("tableArn", "")), total, data)


def check(export: Export, mine: list[DataFile], table: TableInfo, s3: Callable[[], Any]) -> None:
    """Before any write: the first key of this worker's first non-empty file is a key of `table` (an export of
    another table fails here). A different table name in the manifest is only logged (a restored copy is fine)."""
    if export.table_arn and export.table_arn.rpartition("/")[2] != table.name:
        log.warning("export of another table name", extra={"event": "preflight", "export_table": export.table_arn})
    for data in (f for f in mine if f.items):
        for number, text in enumerate(opener(data.location, s3)(), start=1):
            if text.strip():
                try:
                    parse_key(text, table)
                except ValueError as exc:
                    raise ConfigError(f"KEYS_FILE {data.location} line {number}: {exc}: is this an export of "
                                      f"table '{table.name}'?") from None  # fmt: skip
                return


def key_pages(files: list[DataFile], table: TableInfo, s3: Callable[[], Any], size: int) -> Iterator[list[Key]]:
    """The keys of `files` in pages of `size`, streamed."""
    return in_pages((key for data in files for key in _keys(data, table, s3)), size)


def _keys(data: DataFile, table: TableInfo, s3: Callable[[], Any]) -> Iterator[Key]:
    """One data file's keys; RunAbortedError when a line is malformed or the file holds other than the manifest's
    count (the run stops; the same RUN_ID fires nothing twice after a fix)."""
    count = 0
    for number, text in enumerate(opener(data.location, s3)(), start=1):
        if not text.strip():
            continue
        try:
            yield parse_key(text, table)
        except ValueError as exc:
            raise RunAbortedError(f"KEYS_FILE {data.location} line {number}: {exc}") from None
        count += 1
    if count != data.items:
        raise RunAbortedError(f"KEYS_FILE {data.location} holds {count} items, the manifest says {data.items}: "
                              "the export is incomplete or was changed")  # fmt: skip


@dataclass
class ExportSource:
    """The export in `folder`; this worker's share is every `worker_count`-th data file from `worker_index`."""

    folder: str
    worker_index: int
    worker_count: int
    context: Context
    found: Export | None = None
    mine: list[DataFile] = field(default_factory=list)

    @classmethod
    def of(cls, settings: Settings, context: Context) -> ExportSource:
        assert settings.keys_file is not None
        return cls(settings.keys_file, settings.worker_index, settings.worker_count, context)

    def check(self) -> None:
        self.found = read(self.folder, self.context.s3)
        self.mine = self.found.share(self.worker_index, self.worker_count)
        check(self.found, self.mine, self.context.table, self.context.s3)

    def pages(self) -> Iterator[list[Key]]:
        return key_pages(self.mine, self.context.table, self.context.s3, PAGE_SIZE)

    def describe(self) -> dict[str, Any]:
        assert self.found is not None, "check() first"
        found, mine = self.found, self.mine
        return described(
            {"keys_file": self.folder, "export": found.arn, "export_items": found.items, "data_files": len(found.files),
             "my_data_files": len(mine), "worker": worker_label(self.worker_index, self.worker_count)},
            sum(f.items for f in mine),
        )  # fmt: skip


KIND = Kind({"KEYS_FILE": lambda s: s.keys_file is not None and is_export(s.keys_file)}, ExportSource.of)
