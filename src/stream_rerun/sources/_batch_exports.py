"""The fallback of FAILED_BATCHES_FROM for a batch the stream no longer holds: the items changed in the batch's arrival
window (approximateArrivalOfFirstRecord .. approximateArrivalOfLastRecord, widened to an incremental export's 15
minutes), read from an incremental export that the worker requests (_incremental.py) to EXPORT_S3_URI.

Once the stream has trimmed a batch, its own keys are unknown: the export holds every item changed in the window,
not only the batch's, and exports are per table, not per shard, so nothing narrows it. The selection is that
superset (the summary counts `batches_resolved_by_export`); items deleted in the window are not touched (a touch
cannot re-fire a delete). The ClientToken comes from RUN_ID and the batch's arrival times as the record gives them,
so every resume and every task of a fan-out asks for the same export; batches with the same window share one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import ConfigError
from stream_rerun.sources import _exports, _incremental
from stream_rerun.sources._base import PAGE_SIZE, Context
from stream_rerun.sources._incremental import Recovery, Window

if TYPE_CHECKING:
    from stream_rerun.keys import Key

log = logging.getLogger(__name__)


def arrival_window(first: str | None, last: str | None) -> Window | None:
    """[first, last + 1 s): the export's end is exclusive and the arrival times are rounded; None when absent."""
    try:
        start, end = datetime.fromisoformat(str(first)), datetime.fromisoformat(str(last))
    except ValueError:
        return None
    if start.tzinfo is None or end.tzinfo is None or end < start:
        return None
    return Window(start, end + timedelta(seconds=1))


@dataclass
class ExportFallback:
    """The items changed in a batch's arrival window, through incremental exports (one per distinct window)."""

    run_id: str
    s3_uri: str | None  # EXPORT_S3_URI
    max_wait_s: float
    context: Context
    _restorable: Recovery | None = None
    _by_token: dict[str, list[Key]] = field(default_factory=dict)

    def keys_of(self, first: str | None, last: str | None, where: dict[str, Any]) -> list[Key] | None:
        """The keys changed in the window (deletes left out), or None (logged why) when no export can give them."""
        window = arrival_window(first, last)
        reason = None
        if self.s3_uri is None:
            reason = "EXPORT_S3_URI is not set"
        elif window is None:
            reason = "the record has no arrival times"
        else:
            try:
                parts = self._plan(window)
            except ConfigError as exc:
                reason = str(exc)
        if reason is not None:
            log.warning(f"no export fallback: {reason}", extra={"event": "batch_export_fallback", **where})
            return None
        token = f"batch|{first}|{last}"
        if token not in self._by_token:
            self._by_token[token] = self._export(token, parts)
        keys = self._by_token[token]
        log.info("failed batch resolved by an export of its arrival window: every item changed in it",
                 extra={"event": "batch_resolved_by_export", "window": str(window), "keys": len(keys),
                        **where})  # fmt: skip
        return keys

    def _plan(self, window: Window) -> list[Window]:
        """The exports the window needs; ConfigError when point-in-time recovery is off or does not cover it."""
        table = self.context.table
        if self._restorable is None:
            try:
                self._restorable = _incremental.recovery(self.context.client, table.name)
            except ConfigError:
                raise ConfigError(f"point-in-time recovery is off on table '{table.name}'") from None
        restorable = self._restorable
        if window.start < restorable.earliest or window.end > restorable.latest:
            shown = f"[{restorable.earliest.isoformat()}, {restorable.latest.isoformat()}]"
            raise ConfigError(f"the batch's arrival window {window} is outside point-in-time recovery's restorable "
                              f"window {shown}")  # fmt: skip
        return _incremental.plan(window, restorable)

    def _export(self, asked: str, parts: list[Window]) -> list[Key]:
        assert self.s3_uri is not None
        table, client, s3 = self.context.table, self.context.client, self.context.s3
        tokens = [_incremental.client_token(self.run_id, table.arn, f"{asked}|{n}", self.s3_uri)
                  for n in range(len(parts))]  # fmt: skip
        arns = [_incremental.export_window(client, table.arn, w, self.s3_uri, t)
                for w, t in zip(parts, tokens, strict=True)]  # fmt: skip
        done = _incremental.wait(client, arns, self.max_wait_s)
        files = [f for d in done for f in _exports.read(_incremental.folder_of(d), s3, "export").files]
        _exports.check(table.arn, files, table, s3, "export")
        return [key for page in _exports.key_pages(files, table, s3, PAGE_SIZE) for key in page]
