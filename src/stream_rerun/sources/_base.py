"""What every key source is: the `Source` protocol, the `Kind` the registry knows it by, and the `Context` a source
reads with. Shared by the source modules; no source lives here."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from stream_rerun.readpace import ReadPace

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from stream_rerun.config import Settings
    from stream_rerun.errors import RerunError
    from stream_rerun.filters import ItemFilter
    from stream_rerun.keys import Key
    from stream_rerun.table import TableInfo

# Keys per page. Pages are otherwise up to 1 MB of items (thousands of keys); a fixed page keeps the worker's
# memory flat whatever the item size, and the prefetch thread hides the extra round trips.
PAGE_SIZE = 1000


class Source(Protocol):
    """One way of selecting items, for this worker's share (WORKER_INDEX of WORKER_COUNT) of the run."""

    def check(self) -> None:
        """Preflight, before any write: what the source reads is there and fits the table. Raises ConfigError."""

    def pages(self) -> Iterator[list[Key]]:
        """This worker's keys, page by page (at most PAGE_SIZE keys each), read lazily."""

    def describe(self) -> dict[str, Any]:
        """What `run_started` and the dry run say: `selection`, `selected_total` (None when unknown before the run)
        and `selected_total_approximate`. Call after `check`."""


# Optional methods of a source, found with getattr (a source without them has nothing to say):
#   settled(outcomes: list[tuple[Key, str]]) -> None   the engine reports each key that ended, with its outcome
#                                                      (touched, already_done, vanished, filtered_out, failed)
#   finish() -> Report                                 the run ended (also after a stop, an abort or a failed
#                                                      preflight): release what the source holds; what it adds to
#                                                      the summary (see Report)
# and an optional attribute:
#   distinct_pages: bool                               True when no page can name an item twice (each page is one
#                                                      Query or Scan response page): the engine then skips looking
#                                                      for repeats, which key files and failed batches need


@dataclass(frozen=True)
class Report:
    """What a source adds to the summary when the run has ended. A source may have a `finish() -> Report` (called
    once, after the run, also after a signal or an abort; sources.finish calls it): `outcomes` are items it settled
    itself without a write (each also counted in `selected`), `fields` other summary fields, `error` what makes the
    exit code 1 (a file it could not put in place)."""

    outcomes: dict[str, int] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    error: RerunError | None = None


@dataclass(frozen=True)
class Context:
    """What a source reads with: the table (from preflight), the DynamoDB client, an S3 client factory (called on
    first use: only s3:// files need one), FILTER_* (applied on the read where DynamoDB can) and the read budget
    and retry rule every Query and Scan goes through."""

    table: TableInfo
    client: DynamoDBClient
    s3: Callable[[], Any]
    only: ItemFilter | None = None
    reads: ReadPace = field(default_factory=ReadPace)


@dataclass(frozen=True)
class Kind:
    """How the registry knows a source: the variables that choose it (named as the "exactly one selection" error
    names them, each with whether the settings give it), the rules its own settings follow (raise ValueError with
    the message shown), and how to make it."""

    chosen_by: Mapping[str, Callable[[Settings], bool]]
    make: Callable[[Settings, Context], Source]
    check_settings: Callable[[Settings], None] = lambda _settings: None


def described(selection: dict[str, Any], total: int | None = None, approximate: bool = False) -> dict[str, Any]:
    """A source's `describe()`: the fields of `run_started` about the selection."""
    return {"selection": selection, "selected_total": total, "selected_total_approximate": approximate}


def worker_label(index: int, count: int) -> str:
    return f"{index + 1} of {count}"
