"""Errors the worker reports as one line. Each message names what is wrong and what to do about it."""

from __future__ import annotations


class RerunError(Exception):
    """Base class: a failure that ends the run with a one-line message and an exit code."""

    exit_code = 1


class ConfigError(RerunError):
    """Bad configuration or failed preflight; nothing has been written (exit 2)."""

    exit_code = 2


class RunAbortedError(RerunError):
    """A runtime failure that stops the run (unreachable endpoint, access denied on writes): exit 1."""

    exit_code = 1
