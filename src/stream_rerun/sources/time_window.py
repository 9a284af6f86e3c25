"""CHANGED_FROM (and CHANGED_TO): every item changed in a time window, through the table's incremental exports to
EXPORT_S3_URI, which read no table capacity. The worker requests the exports itself (_incremental.py), with a
ClientToken derived from RUN_ID and the window, so every task of the run and every resume share them; it waits for
them (MAX_EXPORT_WAIT_SECONDS) and reads them as _exports.py does: each line's Keys is touched, and a line with Keys
but no NewImage is an item deleted in the window, counted `removed_in_window` and listed to REMOVED_KEYS_OUT, never
written. Each of WORKER_COUNT tasks takes every N-th data file of the exports.

Preflight (exit 2, before any export is requested): point-in-time recovery on, and the window inside its restorable
window. The settings' own rules (a zone, FROM before TO, EXPORT_S3_URI given) are `check_settings`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import ConfigError
from stream_rerun.sources import _exports, _incremental
from stream_rerun.sources._base import PAGE_SIZE, Context, Kind, Report, described, worker_label
from stream_rerun.sources._exports import DataFile, Export, Removed
from stream_rerun.sources._incremental import Window

if TYPE_CHECKING:
    from stream_rerun.config import Settings
    from stream_rerun.keys import Key


def check_settings(settings: Settings) -> None:
    """CHANGED_TO only with CHANGED_FROM; CHANGED_FROM before CHANGED_TO; EXPORT_S3_URI given. Raises ValueError."""
    start, end = settings.changed_from, settings.changed_to
    if start is None:
        if end is not None:
            raise ValueError("CHANGED_TO needs CHANGED_FROM: set CHANGED_FROM to the window's start")
        return
    if end is not None and start >= end:
        raise ValueError(f"CHANGED_FROM {start.isoformat()} is not before CHANGED_TO {end.isoformat()}: give a window "
                         "whose start comes first")  # fmt: skip
    if settings.export_s3_uri is None:
        raise ValueError("CHANGED_FROM needs EXPORT_S3_URI: set it to the s3://bucket/prefix/ where the worker may "
                         "write the incremental export (Terraform's export_s3_prefix)")  # fmt: skip


def within(start: datetime, end: datetime | None, restorable: _incremental.Recovery) -> Window:
    """The window asked for, CHANGED_TO defaulting to the latest restorable time; ConfigError when outside
    point-in-time recovery's restorable window."""
    earliest, latest = restorable.earliest, restorable.latest
    end = end or latest
    shown = f"[{earliest.isoformat()}, {latest.isoformat()}]"
    if start >= end:
        raise ConfigError(f"CHANGED_FROM {start.isoformat()} is not before the latest restorable time "
                          f"{latest.isoformat()}: set an earlier CHANGED_FROM")  # fmt: skip
    if start < earliest or end > latest:
        raise ConfigError(f"CHANGED_FROM/CHANGED_TO [{start.isoformat()}, {end.isoformat()}) is outside point-in-time "
                          f"recovery's restorable window {shown}: choose a window inside it")  # fmt: skip
    return Window(start, end)


@dataclass
class TimeWindowSource:
    """The items changed in [CHANGED_FROM, CHANGED_TO); this worker's share is every `worker_count`-th data file."""

    settings: Settings
    context: Context
    windows: list[Window] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    mine: list[DataFile] = field(default_factory=list)
    removed: Removed = field(default_factory=Removed)

    @classmethod
    def of(cls, settings: Settings, context: Context) -> TimeWindowSource:
        return cls(settings, context)

    def check(self) -> None:
        settings, table, client, s3 = self.settings, self.context.table, self.context.client, self.context.s3
        assert settings.changed_from is not None and settings.export_s3_uri is not None
        restorable = _incremental.recovery(client, table.name)
        self.windows = _incremental.plan(within(settings.changed_from, settings.changed_to, restorable), restorable)
        uri, asked = settings.export_s3_uri, f"{settings.changed_from.isoformat()}|{settings.changed_to or 'latest'}"
        tokens = [
            _incremental.client_token(settings.run_id, table.arn, f"{asked}|{n}", uri) for n in range(len(self.windows))
        ]
        arns = [
            _incremental.export_window(client, table.arn, w, uri, t) for w, t in zip(self.windows, tokens, strict=True)
        ]
        done = _incremental.wait(client, arns, settings.max_export_wait_seconds)
        self.windows = [_incremental.window_of(d) for d in done]  # as the run's first request pinned them
        self.exports = [_exports.read(_incremental.folder_of(d), s3, "export") for d in done]
        not_incremental = [e.folder for e in self.exports if not e.incremental]
        if not_incremental:
            raise ConfigError(f"export {not_incremental[0]} is not an incremental export: check EXPORT_S3_URI")
        files = [f for export in self.exports for f in export.files]
        self.mine = _exports.share(files, settings.worker_index, settings.worker_count)
        _exports.check(table.arn, self.mine, table, s3, "export")
        self.removed = _exports.removed_for(settings, s3)  # after the wait: its file is put in place by finish()

    def pages(self) -> Iterator[list[Key]]:
        return _exports.key_pages(self.mine, self.context.table, self.context.s3, PAGE_SIZE, self.removed)

    def describe(self) -> dict[str, Any]:
        settings = self.settings
        assert settings.changed_from is not None
        selection = {
            "changed_from": settings.changed_from.isoformat(),
            "changed_to": settings.changed_to.isoformat() if settings.changed_to else None,
            "exported": [str(w) for w in self.windows],
            "exports": [e.arn for e in self.exports],
            "export_items": sum(e.items for e in self.exports),
            "data_files": sum(len(e.files) for e in self.exports),
            "my_data_files": len(self.mine),
            "worker": worker_label(settings.worker_index, settings.worker_count),
        }
        return described(selection, sum(f.items for f in self.mine))  # deletes included: removed_in_window

    def finish(self) -> Report:
        return _exports.report(self.removed)


KIND = Kind({"CHANGED_FROM": lambda s: s.changed_from is not None}, TimeWindowSource.of, check_settings)
