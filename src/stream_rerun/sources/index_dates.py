"""GSI_NAME with GSI_DATE, or with GSI_DATE_FROM..GSI_DATE_TO: the items of one date, or of each day of a range,
through an index whose partition key holds the date (a Query per day), narrowed by SORT_KEY_* on the index's sort
key. Preflight checks that the index exists, is ACTIVE and is keyed by GSI_DATE_ATTRIBUTE when that is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import ConfigError
from stream_rerun.keys import typed
from stream_rerun.sources._base import Context, Kind
from stream_rerun.sources._reads import PartitionQuery, QueriedSource, query_selection, sort_range, sort_variables

if TYPE_CHECKING:
    from stream_rerun.config import Settings
    from stream_rerun.table import IndexInfo

_MAX_RANGE_DAYS = 3660


def check_settings(settings: Settings) -> None:
    """The date rules (config's model validator calls this); raises ValueError."""
    if (settings.gsi_date_from is None) != (settings.gsi_date_to is None):
        raise ValueError("GSI_DATE_FROM and GSI_DATE_TO go together: set both, or use GSI_DATE for one date")
    if (settings.gsi_date or settings.gsi_date_from) and not settings.gsi_name:
        raise ValueError("a date selection needs GSI_NAME: set it to the index whose partition key holds the date")
    if settings.gsi_date_from is not None:
        date_range(settings)  # raises on a bad format or order


def date_range(settings: Settings) -> list[str]:
    """The dates of GSI_DATE_FROM..GSI_DATE_TO (inclusive), formatted with GSI_DATE_FORMAT. Raises ValueError."""
    assert settings.gsi_date_from is not None and settings.gsi_date_to is not None
    fmt = settings.gsi_date_format
    first = _parse_date("GSI_DATE_FROM", settings.gsi_date_from, fmt)
    last = _parse_date("GSI_DATE_TO", settings.gsi_date_to, fmt)
    if first > last:
        raise ValueError(
            f"GSI_DATE_FROM {settings.gsi_date_from} is after GSI_DATE_TO {settings.gsi_date_to}: swap them"
        )
    days = (last - first).days + 1
    if days > _MAX_RANGE_DAYS:
        raise ValueError(f"GSI_DATE_FROM..GSI_DATE_TO spans {days} days (max {_MAX_RANGE_DAYS}): split the run")
    return [(first + timedelta(days=n)).strftime(fmt) for n in range(days)]


def _parse_date(var: str, value: str, fmt: str) -> date:
    try:
        parsed = datetime.strptime(value, fmt).date()
    except ValueError:
        raise ValueError(
            f"{var} {value!r} does not match GSI_DATE_FORMAT {fmt!r}: fix the date or the format"
        ) from None
    if parsed.strftime(fmt) != value:
        raise ValueError(f"{var} {value!r} is not in canonical {fmt!r} form: write it as {parsed.strftime(fmt)!r}")
    return parsed


@dataclass
class IndexDatesSource(QueriedSource):
    """The dates (each with the variable it came from, for a typing error), through the index GSI_NAME."""

    index: str
    dates: list[tuple[str, str]]
    date_attribute: str | None
    sort: tuple[tuple[str, str], ...]
    selection: dict[str, Any]
    context: Context
    queries: list[PartitionQuery] = field(default_factory=list, repr=False)

    @classmethod
    def of(cls, settings: Settings, context: Context) -> IndexDatesSource:
        if settings.gsi_date is not None:
            dates = [("GSI_DATE", settings.gsi_date)]
        else:
            try:
                dates = [("GSI_DATE_FROM", day) for day in date_range(settings)]
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        return cls(settings.gsi_name or "", dates, settings.gsi_date_attribute, sort_variables(settings),
                   query_selection(settings.model_dump()), context)  # fmt: skip

    def check(self) -> None:
        index = self._index()
        kind = self.context.table.attr_types[index.hash_key]
        narrowing = sort_range(self.sort, self.context.table, index.range_key, f"index '{index.name}'")
        self.queries = [PartitionQuery(index.name, index.hash_key, typed(var, day, kind), narrowing)
                        for var, day in self.dates]  # fmt: skip

    def _index(self) -> IndexInfo:
        table = self.context.table
        index = table.indexes.get(self.index)
        if index is None:
            names = ", ".join(sorted(table.indexes)) or "none"
            raise ConfigError(
                f"GSI_NAME '{self.index}' is not an index of table '{table.name}' (indexes: {names}): "
                "set GSI_NAME to one of them"
            )
        if index.status != "ACTIVE":
            raise ConfigError(f"GSI_NAME '{index.name}' is {index.status}, not ACTIVE: wait until it is ACTIVE")
        if self.date_attribute is not None and self.date_attribute != index.hash_key:
            raise ConfigError(
                f"GSI_DATE_ATTRIBUTE '{self.date_attribute}' is not the partition key of index '{index.name}' "
                f"(it is '{index.hash_key}'): unset GSI_DATE_ATTRIBUTE or choose the index keyed by it"
            )
        return index


KIND = Kind(
    {
        "GSI_DATE": lambda s: s.gsi_date is not None,
        "GSI_DATE_FROM/GSI_DATE_TO": lambda s: s.gsi_date_from is not None or s.gsi_date_to is not None,
    },
    IndexDatesSource.of,
    check_settings,
)
