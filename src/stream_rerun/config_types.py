"""The value types of Settings' fields that need more than pydantic's own: FILTER_VALUES (a JSON array),
CHANGED_FROM/CHANGED_TO (ISO 8601 with a zone), CONSUMER_FUNCTIONS (comma-separated Lambda names or ARNs). Each
raises ValueError with the fix; config.py turns it into the one-line error naming the variable."""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator
from pydantic_settings import NoDecode

MAX_FILTER_VALUES = 50  # kept well inside a statement's parameter limits


def _filter_values(value: Any) -> Any:
    """FILTER_VALUES: a JSON array (from the environment) of strings, numbers and booleans, 1 to 50 of them."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError('is not JSON: write a JSON array such as ["FAILED", 3, true]') from None
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_FILTER_VALUES:
        raise ValueError(f"must be a JSON array of 1 to {MAX_FILTER_VALUES} values")
    for one in value:
        if not isinstance(one, str | int | float | bool) or (isinstance(one, float) and not math.isfinite(one)):
            raise ValueError(f"holds {json.dumps(one)}: only strings, numbers and true/false are allowed")
    return tuple(value)


def _iso_time(value: Any) -> Any:
    """CHANGED_FROM/CHANGED_TO: ISO 8601 date and time (the zone is AwareDatetime's rule), not epoch seconds."""
    if isinstance(value, str) and not re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", value.strip()):
        raise ValueError("is not an ISO 8601 date and time")
    return value


IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_time)]
TIME_HINT = "set an ISO 8601 time with a zone, e.g. 2026-11-27T02:10:00Z or 2026-11-27T03:10:00+01:00"

_FUNCTION = re.compile(
    r"^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$"
)


def _function_names(value: Any) -> Any:
    """CONSUMER_FUNCTIONS: comma-separated Lambda function names or ARNs (blanks between commas ignored)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("names no function")
    for one in value:
        if not isinstance(one, str) or not _FUNCTION.match(one):
            raise ValueError(f"{one!r} is not a Lambda function name or ARN")
    return tuple(dict.fromkeys(value))


FunctionNames = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_function_names)]

FilterValues = Annotated[tuple[str | int | float | bool, ...], NoDecode, BeforeValidator(_filter_values)]
