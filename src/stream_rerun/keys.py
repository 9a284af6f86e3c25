"""Primary keys: typing values from the environment or a file by the key schema, and showing keys in logs."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from stream_rerun.errors import ConfigError

Key = dict[str, Any]  # a primary key in DynamoDB JSON: {"pk": {"S": "a"}, "sk": {"N": "1"}}


def plain_key(key: Key) -> dict[str, Any]:
    """A key as plain JSON for logs: strings and numbers as such, binary as base64."""
    out: dict[str, Any] = {}
    for name, value in key.items():
        kind, raw = next(iter(value.items()))
        out[name] = base64.b64encode(raw).decode() if kind == "B" else raw
    return out


def in_pages(keys: Iterable[Key], size: int) -> Iterator[list[Key]]:
    """`keys` in lists of `size` (the last one shorter), read lazily (itertools.batched is Python 3.12+)."""
    page: list[Key] = []
    for key in keys:
        page.append(key)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def json_key(key: Key) -> dict[str, Any]:
    """A key in DynamoDB JSON as a KEYS_FILE line holds it: binary as base64, as in exports."""
    return {name: {kind: base64.b64encode(raw).decode() if kind == "B" else raw for kind, raw in value.items()}
            for name, value in key.items()}  # fmt: skip


def typed(var: str, raw: str, kind: str) -> Key:
    """A string from the environment as a DynamoDB AttributeValue of type `kind` (S, N or B as base64)."""
    if kind == "S":
        return {"S": raw}
    if kind == "N":
        try:
            number = Decimal(raw)
        except InvalidOperation:
            number = Decimal("NaN")
        if not _storable(number) or raw != raw.strip():
            raise ConfigError(f"{var}={raw!r} is not a number, but the key is of type N: give a number such as 42")
        return {"N": raw}
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data:
        raise ConfigError(f"{var}={raw!r} is not base64, but the key is of type B: give the bytes base64-encoded")
    return {"B": data}


def _storable(number: Decimal) -> bool:
    """DynamoDB numbers: finite, up to 38 significant digits, magnitude 1E-130 to below 1E126."""
    if not number.is_finite():
        return False
    if number == 0:
        return True
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")
    return len(digits) <= 38 and Decimal("1E-130") <= abs(number) < Decimal("1E126")
