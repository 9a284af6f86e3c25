"""Item builders in DynamoDB JSON."""

from __future__ import annotations

from typing import Any


def item(pk: str, sk: str, **attrs: Any) -> dict[str, Any]:
    """A DynamoDB JSON item keyed pk/sk: str attributes as S, int as N, bytes as B."""
    out: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}}
    for name, value in attrs.items():
        if isinstance(value, bytes):
            out[name] = {"B": value}
        elif isinstance(value, int):
            out[name] = {"N": str(value)}
        else:
            out[name] = {"S": value}
    return out
