"""KEYS_FILE naming a DynamoDB export's folder (`s3://bucket/prefix/AWSDynamoDB/<export-id>/`, or a local copy):
the key source for a table of any size that costs no read capacity. A full export selects every item in it; an
incremental export (its manifest says `exportType: INCREMENTAL_EXPORT`) every item changed in its window, and the
items it shows deleted are counted `removed_in_window` and listed to REMOVED_KEYS_OUT, never written.

The layout and its reading are in _exports.py. Each of WORKER_COUNT tasks takes every N-th data file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stream_rerun.sources import _exports
from stream_rerun.sources._base import PAGE_SIZE, Context, Kind, Report, described, worker_label
from stream_rerun.sources._exports import DataFile, Export, Removed
from stream_rerun.sources._files import is_export

if TYPE_CHECKING:
    from stream_rerun.config import Settings
    from stream_rerun.keys import Key


@dataclass
class ExportSource:
    """The export in `folder`; this worker's share is every `worker_count`-th data file from `worker_index`."""

    folder: str
    worker_index: int
    worker_count: int
    context: Context
    settings: Settings | None = None
    found: Export | None = None
    mine: list[DataFile] = field(default_factory=list)
    removed: Removed = field(default_factory=Removed)

    @classmethod
    def of(cls, settings: Settings, context: Context) -> ExportSource:
        assert settings.keys_file is not None
        return cls(settings.keys_file, settings.worker_index, settings.worker_count, context, settings)

    def check(self) -> None:
        self.found = _exports.read(self.folder, self.context.s3)
        self.mine = _exports.share(self.found.files, self.worker_index, self.worker_count)
        _exports.check(self.found.table_arn, self.mine, self.context.table, self.context.s3)
        if self.found.incremental and self.settings is not None:
            self.removed = _exports.removed_for(self.settings, self.context.s3)

    def pages(self) -> Iterator[list[Key]]:
        return _exports.key_pages(self.mine, self.context.table, self.context.s3, PAGE_SIZE, self.removed)

    def describe(self) -> dict[str, Any]:
        assert self.found is not None, "check() first"
        found, mine = self.found, self.mine
        return described(
            {"keys_file": self.folder, "export": found.arn, "export_items": found.items, "data_files": len(found.files),
             "my_data_files": len(mine), "worker": worker_label(self.worker_index, self.worker_count),
             **({"export_type": _exports.INCREMENTAL} if found.incremental else {})},
            sum(f.items for f in mine),  # an incremental export's deletes too: selected, counted removed_in_window
        )  # fmt: skip

    def finish(self) -> Report:
        return _exports.report(self.removed) if self.found is not None and self.found.incremental else Report()


KIND = Kind({"KEYS_FILE": lambda s: s.keys_file is not None and is_export(s.keys_file)}, ExportSource.of)
