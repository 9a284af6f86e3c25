"""The package's version and the git revision it was built from (run_started, the launcher's --version).

The version is the installed distribution's metadata, which hatch-vcs derives from the nearest ``v*`` tag when the
package is installed or built: ``0.2.0`` on the tag, ``0.2.1.dev3+g1a2b3c4d5`` three commits after it, with
``.d<date>`` added when the working tree had uncommitted changes. The revision is the commit named in that local
part (``+g<sha>``): on an exact tag there is none, so an image build, which has no ``.git``, is given a version with
one (``SETUPTOOLS_SCM_PRETEND_VERSION=0.2.0+g<sha>``). Standard library only: the launcher imports it too.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

DISTRIBUTION = "ddb-stream-rerun"
UNKNOWN = "0.0.0+unknown"
# setuptools-scm's local part: g<abbreviated sha> and/or d<yyyymmdd>, dot-separated.
_NODE = re.compile(r"^g([0-9a-f]{7,40})$")
_DIRTY = re.compile(r"^d\d{8}$")


def version() -> str:
    """The installed distribution's version; UNKNOWN when the package runs from a tree that was never installed."""
    try:
        return _distribution_version(DISTRIBUTION)
    except PackageNotFoundError:
        return UNKNOWN


def _local_parts(of: str) -> list[str]:
    return of.partition("+")[2].split(".") if "+" in of else []


def revision(of: str | None = None) -> str | None:
    """The abbreviated git commit in the version's local part (``+g<sha>``), or None (an exact tag, no git)."""
    for part in _local_parts(version() if of is None else of):
        if match := _NODE.match(part):
            return match.group(1)
    return None


def dirty(of: str | None = None) -> bool:
    """Whether the version says it was built from a working tree with uncommitted changes (``.d<date>``)."""
    return any(_DIRTY.match(part) for part in _local_parts(version() if of is None else of))


def fields() -> dict[str, str | None]:
    """The log fields run_started carries: ``version`` and ``revision``."""
    current = version()
    return {"version": current, "revision": revision(current)}


def describe(program: str) -> str:
    """One line for ``--version``: ``stream-rerun-launch 0.2.1.dev3+g1a2b3c4d5 (git 1a2b3c4d5)``; on a tag, no
    parentheses (the tag names the commit)."""
    current = version()
    notes = [f"git {commit}"] if (commit := revision(current)) else []
    notes += ["uncommitted changes"] if dirty(current) else []
    return f"{program} {current}" + (f" ({', '.join(notes)})" if notes else "")


__version__ = version()
