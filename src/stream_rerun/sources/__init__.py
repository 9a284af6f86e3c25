"""Key sources: which items a run selects. One module per way of selecting them, each behind the `Source` protocol
(_base.py): what preflight checks, the pages of keys this worker reads, and how `run_started` describes it. None
knows how keys are written.

    partition.py     HASH_KEY_VALUE, narrowed by SORT_KEY_*            (Query)
    index_dates.py   GSI_NAME with GSI_DATE or GSI_DATE_FROM/TO         (a Query per day on the index)
    whole_table.py   ALL_ITEMS=true, shared by segments                 (parallel Scan)
    keyfile.py       KEYS_FILE naming a JSON Lines file, local or S3    (no reads of the table)
    export.py        KEYS_FILE naming a DynamoDB export's folder        (no reads of the table)
    time_window.py   CHANGED_FROM/CHANGED_TO: items changed in a window (incremental exports the worker requests)
    failed_batches.py  FAILED_BATCHES_FROM: a consumer's failed batches   (SQS, S3 or a file; the stream)

Shared, and no source: _base.py (the protocol, `Kind`, `Context`, `Report`), _reads.py (Query/Scan paging, keys
only, the read-side filter, SORT_KEY_* typing), _files.py (opening local, S3 and gzipped files; a line as a key),
_exports.py (reading full and incremental exports), _incremental.py (requesting incremental exports and waiting),
_sqs.py (an SQS queue's messages: held, deleted, released). A source
module imports no other source module. The choice is made here, once: adding a source is adding its module and one
line to KINDS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stream_rerun.readpace import ReadPace
from stream_rerun.retry import RetryPolicy
from stream_rerun.sources import export, failed_batches, index_dates, keyfile, partition, time_window, whole_table
from stream_rerun.sources._base import Context, Kind, Report, Source
from stream_rerun.sources._reads import check_narrowing

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from stream_rerun.config import Settings
    from stream_rerun.filters import ItemFilter
    from stream_rerun.table import TableInfo

__all__ = ["KINDS", "Context", "Kind", "Report", "Source", "check_settings", "finish", "source_for"]

# In the order the "exactly one selection" error names their variables.
KINDS: tuple[Kind, ...] = (
    partition.KIND, index_dates.KIND, keyfile.KIND, export.KIND, time_window.KIND, whole_table.KIND,
    failed_batches.KIND,
)  # fmt: skip


def _chosen(settings: Settings) -> list[str]:
    return [name for kind in KINDS for name, given in kind.chosen_by.items() if given(settings)]


def check_settings(settings: Settings) -> None:
    """The selection rules, for config's model validator: exactly one selection, then each source's own rules and
    the SORT_KEY_* narrowing (shared by the Query sources). Raises ValueError with the message shown."""
    chosen = _chosen(settings)
    if len(chosen) != 1:
        found = ", ".join(chosen) if chosen else "none"
        raise ValueError(
            f"exactly one selection is needed (found: {found}): set HASH_KEY_VALUE, or GSI_NAME with GSI_DATE, "
            "or GSI_NAME with GSI_DATE_FROM and GSI_DATE_TO, or KEYS_FILE, or CHANGED_FROM (items changed since), "
            "or ALL_ITEMS=true for the whole table, or FAILED_BATCHES_FROM"
        )
    for kind in KINDS:
        kind.check_settings(settings)
    check_narrowing(settings)


def source_for(
    settings: Settings, table: TableInfo, client: DynamoDBClient, s3: Callable[[], Any], only: ItemFilter | None = None
) -> Source:
    """The source the (validated) settings choose, reading with `client` and `s3` (a client factory); `only`
    (FILTER_*) is applied on the read where DynamoDB can; its Query and Scan pages keep MAX_RCU_PER_SECOND and ride out
    throttling until MAX_STALL_SECONDS. Call its `check()` before anything else."""
    kind = next(kind for kind in KINDS if any(given(settings) for given in kind.chosen_by.values()))
    reads = ReadPace(settings.max_rcu_per_second, RetryPolicy(stall_s=settings.max_stall_seconds))
    return kind.make(settings, Context(table, client, s3, only, reads))


def finish(source: Source) -> Report:
    """After the run: what the source adds to the summary (its optional `finish()`), else nothing."""
    done = getattr(source, "finish", None)
    return done() if callable(done) else Report()
