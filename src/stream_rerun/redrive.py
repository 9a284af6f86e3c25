"""FAILED_KEYS_OUT: the re-drive file. Every selected key that the run did not settle (failed or unprocessed) is
appended to a local spool file as the run goes, one DynamoDB JSON key per line (a KEYS_FILE reads it back), and the
spool is moved or uploaded to its place when the run ends, also after a signal or an abort.

The place is checked in preflight, before any write: a local folder must be writable, and an S3 object is created
empty (this also proves s3:PutObject); the end of the run replaces it with the keys.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import ConfigError, RerunError, as_rerun_error
from stream_rerun.keys import Key, json_key

if TYPE_CHECKING:
    from stream_rerun.config import Settings


def location_of(settings: Settings, given: str | None = None) -> str | None:
    """Where this worker's re-drive file goes: FAILED_KEYS_OUT (or `given`, another key list such as
    REMOVED_KEYS_OUT), with <RUN_ID>.jsonl appended to a folder, and the worker's share named when several tasks run
    one RUN_ID (each writes its own file)."""
    given = settings.failed_keys_out if given is None else given
    if given is None:
        return None
    if given.endswith("/"):
        given += f"{settings.run_id}.jsonl"
    if settings.worker_count == 1:
        return given
    stem, dot, suffix = given.rpartition(".")
    share = f"worker-{settings.worker_index + 1}-of-{settings.worker_count}"
    return f"{stem}.{share}.{suffix}" if dot and "/" not in suffix else f"{given}.{share}"


class RedriveFile:
    """The spool of unsettled keys for one worker; thread-safe `add`, then `close` once."""

    def __init__(self, location: str, s3: Callable[[], Any], variable: str = "FAILED_KEYS_OUT") -> None:
        self.location = location
        self.variable = variable  # how errors name the setting
        self.count = 0
        self._s3 = s3
        self._lock = threading.Lock()
        folder = None if location.startswith("s3://") else Path(location).resolve().parent
        try:
            handle, self._spool = tempfile.mkstemp(prefix=".failed-keys-", suffix=".partial", dir=folder)
        except OSError as exc:
            raise ConfigError(f"{variable} {location} cannot be written ({exc.strerror}): give a path in a "
                              "writable folder, or an s3:// URI") from None  # fmt: skip
        self._file = os.fdopen(handle, "w", encoding="utf-8")
        if location.startswith("s3://"):
            self._upload(b"", ConfigError)  # exit 2, before any write

    def add(self, keys: list[Key]) -> None:
        with self._lock:
            self._file.writelines(json.dumps(json_key(key), separators=(",", ":")) + "\n" for key in keys)
            self.count += len(keys)

    def close(self) -> None:
        """Put the file in its place. Raises RerunError when S3 refuses it (the spool is kept and named)."""
        with self._lock:
            self._file.close()
            if not self.location.startswith("s3://"):
                os.replace(self._spool, self.location)
                return
            self._upload(None, RerunError)
            os.unlink(self._spool)

    def _upload(self, body: bytes | None, raises: type[RerunError]) -> None:
        """PutObject `body`, or the spool (streamed; multipart when large) when it is None."""
        bucket, _, key = self.location[5:].partition("/")
        try:
            if body is None:
                self._s3().upload_file(self._spool, bucket, key, ExtraArgs={"ContentType": "application/x-ndjson"})
            else:
                self._s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")
        except Exception as exc:  # noqa: BLE001 - boto3's transfer wraps ClientError in S3UploadFailedError
            error = as_rerun_error(exc, "S3", "PutObject")
            kept = "" if not self.count else f"; the keys are kept in {self._spool}"
            raise raises(f"{self.variable} {self.location} cannot be written ({error}): check the task role's "
                         f"s3:PutObject{kept}") from None  # fmt: skip
