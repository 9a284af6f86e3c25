"""Key files, read by the KEYS_FILE sources: opening one (a local path or s3://bucket/key, gzipped when its name
ends in .gz) as a stream of lines, and reading one line as a primary key. All S3 reading of the sources is here.

One key per line, either DynamoDB JSON or plain values typed from the key schema:

    {"pk": {"S": "cust-1"}, "sk": {"N": "42"}}      DynamoDB JSON (other attributes are ignored)
    {"pk": "cust-1", "sk": 42}                      plain values
    {"Keys": {...}} or {"Item": {...}}              either of the above, wrapped as in stream records or exports
    "cust-1"                                        a bare value, for a table with a partition key only
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from stream_rerun.errors import ConfigError, as_rerun_error
from stream_rerun.keys import Key, typed

if TYPE_CHECKING:
    from stream_rerun.table import TableInfo

Lines = Callable[[], Iterator[str]]


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
                body = s3().get_object(Bucket=bucket, Key=key)["Body"]
            except (ClientError, BotoCoreError) as exc:
                error = as_rerun_error(exc, "S3", "GetObject")
                raise ConfigError(
                    f"KEYS_FILE {location} cannot be read ({error}): check the URI and the task role's s3:GetObject"
                ) from None
            with body:
                yield from _lines(body, location)

        return from_s3
    path = Path(location)
    if not path.is_file():
        raise ConfigError(f"KEYS_FILE {location!r} is not a readable file: give a local path or an s3:// URI")

    def from_disk() -> Iterator[str]:
        with path.open("rb") as handle:
            yield from _lines(handle, location)

    return from_disk


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
    return {name: _attribute(name, value[name], table.attr_types[name]) for name in table.key_names}


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
