"""Key files, read by the KEYS_FILE sources: opening one (a local path or s3://bucket/key, gzipped when its name
ends in .gz) as a stream of lines, and reading one line as a primary key. All S3 reading of the sources is here.

One key per line, either DynamoDB JSON or plain values typed from the key schema:

    {"pk": {"S": "cust-1"}, "sk": {"N": "42"}}      DynamoDB JSON (other attributes are ignored)
    {"pk": "cust-1", "sk": 42}                      plain values
    {"Keys": {...}} or {"Item": {...}}              either of the above, wrapped as in stream records or exports
    "cust-1"                                        a bare value, for a table with a partition key only

S3 drops a reader that is slow or stays connected for hours (an export read for hours, a key file behind a slow
write rate). The S3 body resumes where it was cut with a ranged GET of the same object version (If-Match its ETag),
beneath the decompressor: gzip is fed exactly the bytes it had been fed, in order, so even a .gz file resumes
mid-member (no need to re-read the member from its start, or the object from the beginning).
"""

from __future__ import annotations

import gzip
import http.client
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import urllib3.exceptions
from botocore.exceptions import BotoCoreError, ClientError

from stream_rerun.errors import ConfigError, RunAbortedError, as_rerun_error, error_code, is_retryable
from stream_rerun.keys import Key, typed
from stream_rerun.limits import key_size_error

if TYPE_CHECKING:
    from stream_rerun.table import TableInfo

Lines = Callable[[], Iterator[str]]

S3_RESUMES = 5  # ranged GETs in a row, without a byte read between them, before a read of S3 gives up
RESUME_BACKOFF_S = 0.2  # doubled each time, between those GETs
# What S3 dropping a reader looks like to botocore's StreamingBody.read.
_DROPPED = (BotoCoreError, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


def is_export(location: str) -> bool:
    """A folder (a DynamoDB export's): an s3:// URI ending in /, or a local directory."""
    return location.endswith("/") if location.startswith("s3://") else Path(location).is_dir()


def opener(location: str, s3: Any) -> Lines:
    """A function that opens the file afresh and yields its lines (decompressed when the name ends in .gz, streamed:
    memory stays flat); `s3` is a client factory for s3:// URIs."""
    if location.startswith("s3://"):
        bucket, _, key = location[5:].partition("/")
        if not bucket or not key:
            raise ConfigError(f"KEYS_FILE {location!r} is not s3://bucket/key: give the full object URI")

        def from_s3() -> Iterator[str]:
            try:
                body = S3Body(s3(), bucket, key)
            except (ClientError, BotoCoreError) as exc:
                error = as_rerun_error(exc, "S3", "GetObject")
                raise ConfigError(
                    f"KEYS_FILE {location} cannot be read ({error}): check the URI and the task role's s3:GetObject"
                ) from None
            with body:
                yield from _lines(io.BufferedReader(body), location)

        return from_s3
    path = Path(location)
    if not path.is_file():
        raise ConfigError(f"KEYS_FILE {location!r} is not a readable file: give a local path or an s3:// URI")

    def from_disk() -> Iterator[str]:
        with path.open("rb") as handle:
            yield from _lines(handle, location)

    return from_disk


class S3Body(io.RawIOBase):
    """An S3 object's bytes that resume from their offset with a ranged GET when S3 drops the connection (at most
    S3_RESUMES GETs in a row without progress); RunAbortedError names S3 and the object when that fails."""

    def __init__(self, client: Any, bucket: str, key: str, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self.client, self.bucket, self.key, self.sleep = client, bucket, key, sleep
        self.offset = 0
        self.resumes = 0  # ranged GETs since the last byte read
        answer = client.get_object(Bucket=bucket, Key=key)
        self.etag, self.size, self.body = answer.get("ETag"), answer.get("ContentLength"), answer["Body"]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            try:
                data = self.body.read(len(buffer))
            except _DROPPED as exc:
                self._resume(exc)
                continue
            if not data and self.size is not None and self.offset < self.size:
                self._resume(EOFError(f"the body ended at byte {self.offset} of {self.size}"))
                continue
            buffer[: len(data)] = data
            self.offset += len(data)
            self.resumes = 0 if data else self.resumes
            return len(data)

    def _resume(self, exc: BaseException) -> None:
        where = f"s3://{self.bucket}/{self.key}"
        if self.resumes >= S3_RESUMES:
            raise RunAbortedError(f"S3 dropped the read of {where} at byte {self.offset} and {S3_RESUMES} ranged GETs "
                                  f"did not resume it ({type(exc).__name__}: {exc}): check the network to S3, "
                                  "then rerun with the same RUN_ID")  # fmt: skip
        self.sleep(RESUME_BACKOFF_S * 2**self.resumes)
        self.resumes += 1
        self.body.close()
        try:  # the same version of the object, from the first byte not yet read
            params = {"Range": f"bytes={self.offset}-", **({"IfMatch": self.etag} if self.etag else {})}
            self.body = self.client.get_object(Bucket=self.bucket, Key=self.key, **params)["Body"]
        except _DROPPED as failed:
            if isinstance(failed, ClientError) and error_code(failed) == "PreconditionFailed":
                raise RunAbortedError(f"S3 object {where} changed while it was read (its ETag is no longer "
                                      f"{self.etag}): rerun with the same RUN_ID") from None  # fmt: skip
            if isinstance(failed, ClientError) and not is_retryable(failed):
                raise RunAbortedError(f"S3 refused the ranged GET of {where} at byte {self.offset}: "
                                      f"{as_rerun_error(failed, 'S3', 'GetObject')}") from None  # fmt: skip
            self._resume(failed)

    def close(self) -> None:
        if getattr(self, "body", None) is not None:
            self.body.close()
        super().close()


def _lines(raw: Any, location: str) -> Iterator[str]:
    binary = gzip.GzipFile(fileobj=raw, mode="rb") if location.endswith(".gz") else raw
    try:
        for line in io.TextIOWrapper(binary, encoding="utf-8"):
            yield line.rstrip("\r\n")
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # gzip.BadGzipFile is an OSError
        raise ConfigError(f"KEYS_FILE {location} cannot be read: {exc}: give JSON Lines (gzipped if .gz)") from None


def parse_key(text: str, table: TableInfo) -> Key:
    """One line as a primary key in DynamoDB JSON; ValueError says what is wrong with it."""
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(value, dict):
        if len(table.key_names) != 1:
            raise ValueError(f"a bare value, but the table's key is {' + '.join(table.key_names)}: give an object")
        value = {table.hash_key: value}
    for wrapper in ("Keys", "Item"):
        if isinstance(value.get(wrapper), dict) and table.hash_key not in value:
            value = value[wrapper]
    missing = [name for name in table.key_names if name not in value]
    if missing:
        raise ValueError(f"missing key attribute {', '.join(missing)}")
    key = {name: _attribute(name, value[name], table.attr_types[name]) for name in table.key_names}
    too_big = key_size_error(key, table)
    if too_big:
        raise ValueError(too_big)
    return key


def _attribute(name: str, value: Any, kind: str) -> dict[str, Any]:
    if isinstance(value, dict):  # DynamoDB JSON: binary is base64 there too
        if list(value) != [kind]:
            raise ValueError(f"{name} is {json.dumps(value)}, but the key is of type {kind}")
        value = value[kind]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{name} is {json.dumps(value)}: give a string or a number")
    if kind == "S" and not isinstance(value, str):
        raise ValueError(f"{name} is a number, but the key is of type S: quote it")
    if value == "":
        raise ValueError(f"{name} is empty: a key attribute cannot be")
    try:
        return typed(name, str(value), kind)
    except ConfigError:
        expected = "base64" if kind == "B" else f"valid for a key of type {kind}"
        raise ValueError(f"{name}={value!r} is not {expected}") from None
