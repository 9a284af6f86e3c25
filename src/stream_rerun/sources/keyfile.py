"""KEYS_FILE naming a file: the keys listed in a JSON Lines file (a local path or s3://bucket/key, gzipped when its
name ends in .gz; the line format is in _files.py), read twice: once in preflight to check every line before any
write, once to select. Each of WORKER_COUNT tasks takes every N-th key."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import ConfigError
from stream_rerun.keys import Key, in_pages
from stream_rerun.sources._base import PAGE_SIZE, Context, Kind, described, worker_label
from stream_rerun.sources._files import Lines, is_export, opener, parse_key

if TYPE_CHECKING:
    from stream_rerun.config import Settings
    from stream_rerun.table import TableInfo

MAX_REPORTED = 10  # malformed lines listed in the error; the count says how many more


def check(lines: Lines, table: TableInfo, location: str) -> int:
    """Parse every line; raise ConfigError naming the malformed lines (with numbers). Returns the key count."""
    errors: list[str] = []
    count = 0
    for number, text in enumerate(lines(), start=1):
        if not text.strip():
            continue
        try:
            parse_key(text, table)
            count += 1
        except ValueError as exc:
            errors.append(f"line {number}: {exc}")
    if errors:
        more = f" (and {len(errors) - MAX_REPORTED} more)" if len(errors) > MAX_REPORTED else ""
        raise ConfigError(f"KEYS_FILE {location} has {len(errors)} malformed lines{more}: "
                          f"{'; '.join(errors[:MAX_REPORTED])}")  # fmt: skip
    if count == 0:
        raise ConfigError(f"KEYS_FILE {location} holds no keys: give a file with one key per line")
    return count


def key_pages(lines: Lines, table: TableInfo, index: int, count: int, size: int) -> Iterator[list[Key]]:
    """This worker's keys (every `count`-th non-blank line from `index`), in pages of `size`."""
    mine = itertools.islice((text for text in lines() if text.strip()), index, None, count)
    return in_pages((parse_key(text, table) for text in mine), size)


@dataclass
class KeyFileSource:
    """The file at `location`; this worker's share is every `worker_count`-th key from `worker_index`."""

    location: str
    worker_index: int
    worker_count: int
    context: Context
    lines: Lines | None = None
    count: int = 0  # keys in the file, known after check()

    @classmethod
    def of(cls, settings: Settings, context: Context) -> KeyFileSource:
        assert settings.keys_file is not None
        return cls(settings.keys_file, settings.worker_index, settings.worker_count, context)

    def check(self) -> None:
        self.lines = opener(self.location, self.context.s3)
        self.count = check(self.lines, self.context.table, self.location)

    def pages(self) -> Iterator[list[Key]]:
        assert self.lines is not None, "check() first"
        return key_pages(self.lines, self.context.table, self.worker_index, self.worker_count, PAGE_SIZE)

    def describe(self) -> dict[str, Any]:
        index, workers = self.worker_index, self.worker_count
        selection = {"keys_file": self.location, "keys_in_file": self.count, "worker": worker_label(index, workers)}
        return described(selection, (self.count - index + workers - 1) // workers)  # every `workers`-th from `index`


KIND = Kind({"KEYS_FILE": lambda s: s.keys_file is not None and not is_export(s.keys_file)}, KeyFileSource.of)
