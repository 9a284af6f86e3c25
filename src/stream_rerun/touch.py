"""The write: one atomic conditional update per item, sent 25 to a PartiQL BatchExecuteStatement request.

Every statement bumps the revision and sets the marker to RUN_ID, on condition that the item exists (an UPDATE
with the full key never creates one) and its marker is not RUN_ID yet. PartiQL has no if_not_exists, and
`revision + 1` on a missing attribute is a ValidationError, so an item without a revision gets a second statement
that sets it to 1 on condition that it is still missing. Each statement's answer is classified on its own; this
module is the only one that knows the per-statement error codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from stream_rerun.filters import ItemFilter
    from stream_rerun.keys import Key
    from stream_rerun.table import TableInfo

BATCH_SIZE = 25  # BatchExecuteStatement's limit
# DynamoDB's ValidationError for `revision + 1` on an item without the revision (the INIT statement's case).
_MISSING_ATTRIBUTE = "attribute that does not exist"
# Per-statement codes that may pass on a later attempt (BatchStatementError.Code).
_RETRYABLE = frozenset(
    {"ProvisionedThroughputExceeded", "ThrottlingError", "RequestLimitExceeded", "TransactionConflict",
     "InternalServerError"}
)  # fmt: skip
# Per-statement codes that no later statement can pass either (no permission to write, no such table): the run stops
# at the first one instead of failing every item for hours.
FATAL = frozenset({"AccessDenied", "ResourceNotFound"})


class Outcome(StrEnum):
    """What happened to one item; the summary counts each."""

    TOUCHED = "touched"
    ALREADY_DONE = "already_done"
    VANISHED = "vanished"
    FILTERED_OUT = "filtered_out"
    FAILED = "failed"


class Variant(Enum):
    """Which statement an item needs: bump an existing revision, or create it at 1."""

    INCREMENT = "increment"
    INIT = "init"


MAX_SWITCHES = 6  # variant switches of one item before it fails (a writer flipping its revision back and forth)


@dataclass(slots=True)
class Pending:
    """One item on its way: its key, the statement variant to send next, and what its earlier attempts showed.
    One is made per item: slots keep it small and quick to make."""

    key: Key
    variant: Variant = Variant.INCREMENT
    switches: int = 0
    refused: str = ""  # DynamoDB's message when the increment was refused (ValidationError), for the final failure
    maybe_written: bool = False  # an earlier attempt's answer was lost: it may have been applied

    def switch(self, variant: Variant, refused: str = "") -> Pending:
        return Pending(self.key, variant, self.switches + 1, refused or self.refused, self.maybe_written)


@dataclass
class BatchResult:
    """One request's answers: settled items, items to resend now, items to resend after a backoff."""

    settled: list[tuple[Key, Outcome, str]] = field(default_factory=list)
    again: list[Pending] = field(default_factory=list)
    throttled: list[Pending] = field(default_factory=list)
    consumed_wcu: float | None = None
    consumed_by: dict[str, float] | None = None  # units per resource: "table" (with its local indexes), each GSI
    fatal: tuple[str, str] | None = None  # the first FATAL statement error (code, message): the run must stop

    @property
    def written(self) -> int:
        """Statements DynamoDB executed (every one not throttled), each of which consumed write units."""
        return len(self.settled) + len(self.again)


def dedupe(batch: list[Key]) -> tuple[list[Key], list[Key]]:
    """The keys without repeats (first occurrence kept), and the repeats. DynamoDB refuses a request that names
    one item twice (DuplicateItem), and without a marker both statements would apply: one request, one key, once."""
    seen: set[tuple[Any, ...]] = set()
    unique: list[Key] = []
    repeats: list[Key] = []
    for key in batch:
        ident = _identity(key)
        if ident in seen:
            repeats.append(key)
        else:
            seen.add(ident)
            unique.append(key)
    return unique, repeats


def _identity(key: Key) -> tuple[Any, ...]:
    """A hashable form of a key in which equal numbers are equal ("1", "1.0" and "01" name the same item)."""
    parts = [(name, kind, _number(raw) if kind == "N" else raw) for name, value in key.items()
             for kind, raw in value.items()]  # fmt: skip
    parts.sort()
    return tuple(parts)


def _number(raw: str) -> Decimal | str:
    try:
        return Decimal(raw)
    except InvalidOperation:
        return raw


def _by_resource(consumed: Any) -> dict[str, float] | None:
    """ConsumedCapacity itemised (INDEXES): the table's units with its local indexes', and each GSI's; None when
    DynamoDB reported only totals."""
    if not any("Table" in c for c in consumed):
        return None
    out: dict[str, float] = {"table": 0.0}
    for c in consumed:
        out["table"] += float((c.get("Table") or {}).get("CapacityUnits", 0))
        out["table"] += sum(float(i.get("CapacityUnits", 0)) for i in (c.get("LocalSecondaryIndexes") or {}).values())
        for name, index in (c.get("GlobalSecondaryIndexes") or {}).items():
            out[name] = out.get(name, 0.0) + float(index.get("CapacityUnits", 0))
    return out


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    """A PartiQL string literal (RUN_ID's characters need no escape; a quote would be doubled)."""
    return "'" + value.replace("'", "''") + "'"


class Toucher:
    """Builds the statements for one table and classifies each statement's answer."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: TableInfo,
        revision: str,
        marker: str | None,
        run_id: str,
        *,
        only: ItemFilter | None = None,
    ) -> None:
        self.client = client
        self.table_name = table.name
        self.key_names = table.key_names
        self.revision = revision
        self.marker = marker
        self.run_id = run_id
        self.only = only
        rev = _quote(revision)
        # Names are quoted identifiers. The values every statement shares (the increment, RUN_ID) are literals in its
        # text: botocore serialises each parameter through the API model in Python, and three fewer per statement
        # took 8% off the CPU of a touch against DynamoDB Local. The key's and FILTER_VALUES' values stay
        # parameters.
        run = _literal(run_id)
        set_marker = f" SET {_quote(marker)} = {run}" if marker else ""
        where = " AND ".join(f"{_quote(k)} = ?" for k in table.key_names)
        not_done = f" AND ({_quote(marker)} IS MISSING OR {_quote(marker)} <> {run})" if marker else ""
        not_done += f" AND {only.partiql(_quote(only.attribute))}" if only else ""
        head = f"UPDATE {_quote(table.name)} SET {rev} = "  # noqa: S608
        self._statements = {
            Variant.INCREMENT: f"{head}{rev} + 1{set_marker} WHERE {where}{not_done}",
            Variant.INIT: f"{head}1{set_marker} WHERE {where} AND {rev} IS MISSING{not_done}",
        }
        self._after_key: list[Any] = list(only.values) if only else []

    def statement(self, pending: Pending) -> dict[str, Any]:
        """The BatchStatementRequest for one item (both variants take the same parameters: the key's values, then
        FILTER_VALUES')."""
        return {
            "Statement": self._statements[pending.variant],
            "Parameters": [*map(pending.key.__getitem__, self.key_names), *self._after_key],
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def send(self, batch: list[Pending]) -> BatchResult:
        """Send up to 25 items in one request. Request-level errors (botocore's) propagate to the caller."""
        response = self.client.batch_execute_statement(
            Statements=[self.statement(p) for p in batch],  # type: ignore[misc]
            ReturnConsumedCapacity="INDEXES",
        )
        result = BatchResult()
        consumed = response.get("ConsumedCapacity")
        if consumed:
            result.consumed_wcu = sum(float(c.get("CapacityUnits", 0)) for c in consumed)
            result.consumed_by = _by_resource(consumed)
        for pending, answer in zip(batch, response["Responses"], strict=True):
            self._classify(pending, answer.get("Error"), result)
        return result

    def _classify(self, pending: Pending, error: Any, result: BatchResult) -> None:
        if error is None:
            result.settled.append((pending.key, Outcome.TOUCHED, ""))
            return
        code = error.get("Code", "")
        if code in _RETRYABLE:
            result.throttled.append(pending)
        elif code in FATAL:
            result.fatal = result.fatal or (code, str(error.get("Message", "")))
            result.settled.append((pending.key, Outcome.FAILED, f"{code}: {error.get('Message', '')}"))
        elif pending.switches >= MAX_SWITCHES:
            result.settled.append((pending.key, Outcome.FAILED, f"revision kept changing under the touch ({code})"))
        elif code == "ConditionalCheckFailed":
            self._condition_failed(pending, error.get("Item"), result)
        elif code == "ValidationError" and pending.variant is Variant.INCREMENT and not pending.refused:
            # A missing revision, or a refusal for another reason (non-numeric revision, an item that would exceed
            # 400 KB, 38 digits of precision): the INIT statement's condition tells which.
            message = str(error.get("Message", ""))
            refused = "" if _MISSING_ATTRIBUTE in message else f"ValidationError: {message}"
            result.again.append(pending.switch(Variant.INIT, refused))
        else:
            result.settled.append((pending.key, Outcome.FAILED, f"{code}: {error.get('Message', '')}"))

    def _condition_failed(self, pending: Pending, item: Any, result: BatchResult) -> None:
        if item is None:
            result.settled.append((pending.key, Outcome.VANISHED, ""))
            return
        if self.marker and item.get(self.marker) == {"S": self.run_id}:
            result.settled.append((pending.key, Outcome.ALREADY_DONE, ""))
            return
        if self.only and not self.only.matches(item):  # it no longer (or never did) hold a FILTER_VALUES value
            result.settled.append((pending.key, Outcome.FILTERED_OUT, ""))
            return
        revision = item.get(self.revision)
        if pending.variant is Variant.INIT and revision is not None and "N" in revision and pending.refused:
            # The increment was refused although the revision is a number: the item itself is the problem (it
            # would exceed 400 KB, or the revision has 38 digits). DynamoDB's own message says which.
            result.settled.append((pending.key, Outcome.FAILED, pending.refused))
        elif pending.variant is Variant.INIT and revision is not None and "N" in revision:
            result.again.append(pending.switch(Variant.INCREMENT))  # a writer created it meanwhile
        elif pending.variant is Variant.INCREMENT and revision is None:
            result.again.append(pending.switch(Variant.INIT))  # a writer removed it meanwhile
        elif revision is not None and "N" not in revision:
            kind = next(iter(revision), "?")
            detail = f"{self.revision} holds a value of type {kind}, not a number: fix or remove it, then rerun"
            result.settled.append((pending.key, Outcome.FAILED, detail))
        else:
            result.settled.append((pending.key, Outcome.FAILED, "ConditionalCheckFailed for an unknown reason"))
