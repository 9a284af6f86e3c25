"""Reading DynamoDB exports (DYNAMODB_JSON), full or incremental, for the sources that select through them (export.py:
a folder given as KEYS_FILE; time_window.py: the incremental exports the worker requests itself). No source here.

A folder (`s3://bucket/prefix/AWSDynamoDB/<export-id>/`, or a local copy) holds `manifest-summary.json` (format,
`exportType`, item count), `manifest-files.json` (one line per data file with its item count) and `data/*.json.gz`.
A full export has one `{"Item": {...}}` line per item; an incremental export one
`{"Metadata": {...}, "Keys": {...}, "NewImage": {...}}` line per item changed in its window, and a line with `Keys`
but no `NewImage` for an item deleted in it ("DynamoDB table export output format", DynamoDB Developer Guide).
Data files are found by name under the folder's own `data/` (so a copied export works too). Each file's lines are
counted against the manifest as they stream by.
"""

from __future__ import annotations

import json
import logging
import posixpath
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import ConfigError, RerunError, RunAbortedError
from stream_rerun.keys import in_pages
from stream_rerun.redrive import RedriveFile, location_of
from stream_rerun.sources._base import Report
from stream_rerun.sources._files import opener, parse_key

if TYPE_CHECKING:
    from stream_rerun.config import Settings
    from stream_rerun.keys import Key
    from stream_rerun.table import TableInfo

log = logging.getLogger(__name__)

SUMMARY = "manifest-summary.json"
FILES = "manifest-files.json"
INCREMENTAL = "INCREMENTAL_EXPORT"


@dataclass(frozen=True)
class DataFile:
    location: str
    items: int  # the manifest's itemCount for the file
    incremental: bool = False  # lines are Metadata/Keys/NewImage; no NewImage is a delete


@dataclass(frozen=True)
class Export:
    folder: str
    arn: str
    table_arn: str
    items: int
    files: tuple[DataFile, ...]
    incremental: bool = False


def share(files: list[DataFile] | tuple[DataFile, ...], index: int, count: int) -> list[DataFile]:
    """Worker `index`'s data files: every `count`-th from `index`."""
    return list(files[index::count])


def _join(folder: str, name: str) -> str:
    return folder + name if folder.startswith("s3://") else str(Path(folder) / name)


def _read_text(location: str, s3: Callable[[], Any]) -> Iterator[str]:
    try:
        yield from opener(location, s3)()
    except ConfigError as exc:
        raise ConfigError(f"{exc} (KEYS_FILE names a folder, so it must be a DynamoDB export's)") from None


def read(folder: str, s3: Callable[[], Any], name: str = "KEYS_FILE") -> Export:
    """The export's manifests, checked: DYNAMODB_JSON, and the files' counts adding up. `name` is how errors call
    the folder. Raises ConfigError."""
    folder = folder if folder.endswith("/") or not folder.startswith("s3://") else folder + "/"
    try:
        summary = json.loads("\n".join(_read_text(_join(folder, SUMMARY), s3)))
        incremental = summary.get("exportType", "FULL_EXPORT") == INCREMENTAL
        files = [json.loads(line) for line in _read_text(_join(folder, FILES), s3) if line.strip()]
        data = tuple(DataFile(_join(folder, "data/" + posixpath.basename(f["dataFileS3Key"])), int(f["itemCount"]),
                              incremental) for f in files)  # fmt: skip
        total = int(summary["itemCount"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{name} {folder}: the export's manifests are malformed ({type(exc).__name__}: {exc}): "
                          "give the folder of a completed export, unchanged") from None  # fmt: skip
    kind = summary.get("outputFormat", "DYNAMODB_JSON")
    if kind != "DYNAMODB_JSON":
        raise ConfigError(f"{name} {folder} is an export in {kind} format: export again with "
                          "ExportFormat=DYNAMODB_JSON (the only format the worker reads)")  # fmt: skip
    listed = sum(f.items for f in data)
    if listed != total:
        raise ConfigError(f"{name} {folder}: {FILES} lists {listed} items, {SUMMARY} says {total}: the export "
                          "is incomplete; give the folder of a completed export")  # fmt: skip
    arn, table_arn = str(summary.get("exportArn", "")), str(summary.get("tableArn", ""))
    return Export(folder, arn, table_arn, total, data, incremental)


def check(
    table_arn: str, mine: list[DataFile], table: TableInfo, s3: Callable[[], Any], name: str = "KEYS_FILE"
) -> None:
    """Before any write: the first key of this worker's first non-empty file is a key of `table` (an export of
    another table fails here). A different table name in the manifest is only logged (a restored copy is fine)."""
    if table_arn and table_arn.rpartition("/")[2] != table.name:
        log.warning("export of another table name", extra={"event": "preflight", "export_table": table_arn})
    for data in (f for f in mine if f.items):
        for number, text in enumerate(opener(data.location, s3)(), start=1):
            if text.strip():
                try:
                    parse_key(text, table)
                except ValueError as exc:
                    raise ConfigError(f"{name} {data.location} line {number}: {exc}: is this an export of "
                                      f"table '{table.name}'?") from None  # fmt: skip
                return


@dataclass
class Removed:
    """Items an incremental export shows deleted in its window: the touch cannot re-fire a delete, so they are not
    written; they are counted (`removed_in_window`) and, with REMOVED_KEYS_OUT, listed in `out`."""

    out: RedriveFile | None = None
    count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, key: Key) -> None:
        with self._lock:
            self.count += 1
        if self.out is not None:
            self.out.add([key])


def removed_for(settings: Settings, s3: Callable[[], Any]) -> Removed:
    """The deletes' tally, listing them to REMOVED_KEYS_OUT when it is given and the run writes (checked now:
    preflight). A folder gets <RUN_ID>.removed.jsonl (beside FAILED_KEYS_OUT's <RUN_ID>.jsonl)."""
    given = settings.removed_keys_out
    if given is None or settings.dry_run:
        return Removed()
    location = location_of(settings, given + f"{settings.run_id}.removed.jsonl" if given.endswith("/") else given)
    assert location is not None
    return Removed(RedriveFile(location, s3, "REMOVED_KEYS_OUT"))


def report(removed: Removed) -> Report:
    """The summary's `removed_in_window` (an outcome) and, with REMOVED_KEYS_OUT, where the list went."""
    outcomes = {"removed_in_window": removed.count}
    if removed.out is None:
        return Report(outcomes)
    fields: dict[str, Any] = {"removed_keys_out": removed.out.location, "removed_keys_written": removed.out.count}
    try:
        removed.out.close()
    except RerunError as exc:
        log.error(str(exc), extra={"event": "removed_keys_out_error"})
        return Report(outcomes, {**fields, "removed_keys_out": None}, exc)
    return Report(outcomes, fields)


def key_pages(files: list[DataFile], table: TableInfo, s3: Callable[[], Any], size: int,
              removed: Removed | None = None) -> Iterator[list[Key]]:  # fmt: skip
    """The keys of `files` to touch, in pages of `size`, streamed; deletes go to `removed`."""
    sink = removed or Removed()
    return in_pages((key for data in files for key in _keys(data, table, s3, sink)), size)


def _keys(data: DataFile, table: TableInfo, s3: Callable[[], Any], removed: Removed) -> Iterator[Key]:
    """One data file's keys; RunAbortedError when a line is malformed or the file holds other than the manifest's
    count (the run stops; the same RUN_ID fires nothing twice after a fix)."""
    count = 0
    for number, text in enumerate(opener(data.location, s3)(), start=1):
        if not text.strip():
            continue
        try:
            key = parse_key(text, table)
            deleted = data.incremental and "NewImage" not in json.loads(text)
        except ValueError as exc:
            raise RunAbortedError(f"export file {data.location} line {number}: {exc}") from None
        count += 1
        if deleted:
            removed.add(key)
        else:
            yield key
    if count != data.items:
        raise RunAbortedError(f"export file {data.location} holds {count} items, the manifest says {data.items}: "
                              "the export is incomplete or was changed")  # fmt: skip
