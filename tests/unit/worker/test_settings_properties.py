"""Property-based: random combinations of the worker's variables. Every invalid one is refused with a message
naming a variable at fault; every valid one parses."""

from __future__ import annotations

import os
from datetime import date
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from stream_rerun.config import load_settings
from stream_rerun.errors import ConfigError

# (valid values, invalid values) per variable
VALUES: dict[str, tuple[list[str], list[str]]] = {
    "TABLE_NAME": (["orders", "my.table-1", "a" * 255], ["", "  ", "ab", "bad name!", "a" * 256, "tab\tle"]),
    "HASH_KEY_VALUE": (["c1", "42", " padded "], ["", "   "]),
    "GSI_NAME": (["by_date"], ["", " "]),
    "GSI_DATE": (["2024-01-01", "20240101"], ["", "\t"]),
    "GSI_DATE_FROM": (["2024-01-01", "2024-02-29"], ["2024-13-01", "yesterday", ""]),
    "GSI_DATE_TO": (["2024-01-31", "2024-01-01"], ["2023-02-29", "", "2024-1-1"]),
    "DRY_RUN": (["true", "false", "1", "0", "TRUE"], ["maybe", "", "2"]),
    "CONCURRENCY": (["1", "8", "256"], ["0", "-1", "abc", "", "1.5", "257"]),
    "MAX_ITEMS_PER_SECOND": (["10", "0.5", "1e3"], ["0", "-3", "abc", "", "inf", "nan"]),
    "MAX_WCU_PER_SECOND": (["100", "2.5"], ["0", "-0.1", "x", "", "-inf"]),
    "LOG_LEVEL": (["debug", "INFO", "Warning"], ["loud", "", "TRACE"]),
    "RUN_ID": (["r-1", "2024.01:x_y"], ["", "a b", "x" * 129, "semi;colon"]),
    "REVISION_ATTRIBUTE": (["revision", "rev"], [""]),
    "ALL_ITEMS": (["false", "0"], ["maybe", ""]),
    "WORKER_INDEX": (["0"], ["-1", "x", ""]),
    "WORKER_COUNT": (["1"], ["0", "1001", "y"]),
}
SELECTION = ("HASH_KEY_VALUE", "GSI_DATE", "GSI_DATE_FROM", "GSI_DATE_TO")


SELECTIONS = [("HASH_KEY_VALUE",), ("GSI_NAME", "GSI_DATE"), ("GSI_NAME", "GSI_DATE_FROM", "GSI_DATE_TO")]
OTHERS = [name for name in VALUES if name not in ("TABLE_NAME", "GSI_NAME", *SELECTION)]


@st.composite
def environments(draw: Any) -> tuple[dict[str, str], set[str]]:
    """An environment and the set of variables whose own value is invalid.

    Mostly one selection and at most one bad value, so that each mistake is often the only one; sometimes none,
    several or partial selections, to exercise the cross-variable rules.
    """
    chosen = set(draw(st.sampled_from([*SELECTIONS, *SELECTIONS, (), ("HASH_KEY_VALUE", "GSI_NAME", "GSI_DATE"),
                                        ("GSI_DATE",), ("GSI_NAME", "GSI_DATE_TO")])))  # fmt: skip
    names = {"TABLE_NAME", *chosen, *draw(st.sets(st.sampled_from(OTHERS), max_size=5))}
    env = {"AWS_REGION": "eu-west-1"}
    for name in sorted(names):
        env[name] = draw(st.sampled_from(VALUES[name][0]))
    # Then a few mistakes, each one of every (variable, invalid value) pair with equal chance.
    mistakes = draw(st.lists(st.sampled_from(MISTAKES), max_size=draw(st.sampled_from([0, 1, 1, 1, 2]))))
    env.update(mistakes)
    return env, {name for name, _ in mistakes}


MISTAKES = [(name, value) for name, (_, wrong) in VALUES.items() for value in wrong]


def rule_violations(env: dict[str, str]) -> set[str]:
    """Variables at fault under the cross-variable rules (only meaningful when every value is valid)."""
    chosen = ["HASH_KEY_VALUE" in env, "GSI_DATE" in env, "GSI_DATE_FROM" in env or "GSI_DATE_TO" in env]
    if sum(chosen) != 1 or ("GSI_DATE_FROM" in env) != ("GSI_DATE_TO" in env):
        return set(SELECTION)
    if ("GSI_DATE" in env or "GSI_DATE_FROM" in env) and "GSI_NAME" not in env:
        return {"GSI_NAME"}
    if "GSI_DATE_FROM" in env:
        first, last = (date.fromisoformat(env[v]) for v in ("GSI_DATE_FROM", "GSI_DATE_TO"))
        if first > last:
            return {"GSI_DATE_FROM", "GSI_DATE_TO"}
    return set()


@settings(max_examples=400, deadline=None)
@given(environments())
def test_every_combination_is_parsed_or_refused_naming_the_variable(case: tuple[dict[str, str], set[str]]) -> None:
    env, bad = case
    at_fault = bad or rule_violations(env)
    with mock.patch.dict(os.environ, env, clear=True):
        if not at_fault:
            parsed = load_settings()
            assert parsed.table_name == env["TABLE_NAME"]
            return
        try:
            load_settings()
        except ConfigError as exc:
            message = str(exc)
        else:
            raise AssertionError(f"accepted an invalid environment: {env} (at fault: {at_fault})")
    assert "\n" not in message
    assert any(name in message for name in at_fault), (message, at_fault)
