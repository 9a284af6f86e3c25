"""HASH_KEY_VALUE: every item of one partition of the table (a Query), narrowed by SORT_KEY_* in the key condition."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stream_rerun.keys import typed
from stream_rerun.sources._base import Context, Kind
from stream_rerun.sources._reads import PartitionQuery, QueriedSource, query_selection, sort_range, sort_variables

if TYPE_CHECKING:
    from stream_rerun.config import Settings


@dataclass
class PartitionSource(QueriedSource):
    """One partition: HASH_KEY_VALUE, typed from the key schema, and the SORT_KEY_* narrowing given."""

    value: str
    sort: tuple[tuple[str, str], ...]
    selection: dict[str, Any]
    context: Context
    queries: list[PartitionQuery] = field(default_factory=list, repr=False)

    @classmethod
    def of(cls, settings: Settings, context: Context) -> PartitionSource:
        assert settings.hash_key_value is not None
        return cls(settings.hash_key_value, sort_variables(settings), query_selection(settings.model_dump()), context)

    def check(self) -> None:
        table = self.context.table
        value = typed("HASH_KEY_VALUE", self.value, table.attr_types[table.hash_key])
        narrowing = sort_range(self.sort, table, table.range_key, f"table '{table.name}'")
        self.queries = [PartitionQuery(None, table.hash_key, value, narrowing)]


KIND = Kind({"HASH_KEY_VALUE": lambda s: s.hash_key_value is not None}, PartitionSource.of)
