"""FILTER_ATTRIBUTE / FILTER_VALUES: which items a run may touch, checked atomically in the touch's own condition
(and, where it saves writes, on the read side too). Plain values are typed: strings S, numbers N, true/false BOOL."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

AttributeValue = dict[str, Any]


def attribute_value(value: str | int | float | bool) -> AttributeValue:
    """A plain JSON value as a DynamoDB AttributeValue (bool before int: True is an int in Python)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    return {"N": str(value)}


@dataclass(frozen=True)
class ItemFilter:
    """Touch only items whose `attribute` holds one of `values`."""

    attribute: str
    values: tuple[AttributeValue, ...]

    @classmethod
    def of(cls, attribute: str | None, values: tuple[str | int | float | bool, ...] | None) -> ItemFilter | None:
        if attribute is None or values is None:
            return None
        return cls(attribute, tuple(attribute_value(v) for v in values))

    def partiql(self, quoted: str) -> str:
        """The condition for a PartiQL WHERE clause, `quoted` being the attribute as a quoted identifier; its
        parameters are `values`, in order."""
        return "(" + " OR ".join(f"{quoted} = ?" for _ in self.values) + ")"

    def expression(self) -> dict[str, Any]:
        """A FilterExpression for Query and Scan, with its names and values (#f, :f0...)."""
        names = ", ".join(f":f{i}" for i in range(len(self.values)))
        return {
            "FilterExpression": f"#f IN ({names})",
            "ExpressionAttributeNames": {"#f": self.attribute},
            "ExpressionAttributeValues": {f":f{i}": v for i, v in enumerate(self.values)},
        }

    def matches(self, item: dict[str, AttributeValue]) -> bool:
        """True when the item (as DynamoDB returned it) holds one of the values; numbers compare as numbers."""
        held = item.get(self.attribute)
        return held is not None and any(_equal(held, v) for v in self.values)


def _equal(held: AttributeValue, wanted: AttributeValue) -> bool:
    if "N" in held and "N" in wanted:
        return Decimal(held["N"]) == Decimal(wanted["N"])
    return held == wanted
