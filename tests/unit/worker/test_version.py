"""stream_rerun.version: the version from the installed metadata, the git revision from its local part."""

from __future__ import annotations

import importlib.metadata

import pytest
from packaging.version import Version

import stream_rerun
from stream_rerun import version as v


@pytest.mark.parametrize(
    ("of", "revision", "dirty"),
    [
        ("0.2.1.dev3+g1a2b3c4d5", "1a2b3c4d5", False),  # three commits after v0.2.0
        ("0.2.1.dev3+g1a2b3c4d5.d20261128", "1a2b3c4d5", True),  # ... with uncommitted changes
        ("0.2.0", None, False),  # on the tag
        ("0.2.0+d20261128", None, True),  # on the tag, uncommitted changes
        ("0.2.0+g0123456789abcdef0123456789abcdef01234567", "0123456789abcdef0123456789abcdef01234567", False),
        ("0.0.0+unknown", None, False),  # never installed
        ("1.0+gzzz", None, False),  # not a hex sha
    ],
)
def test_revision_and_dirty_are_read_from_the_local_part(of: str, revision: str | None, dirty: bool) -> None:
    assert v.revision(of) == revision
    assert v.dirty(of) is dirty


def test_the_version_is_the_installed_metadata_and_pep_440() -> None:
    installed = importlib.metadata.version("ddb-stream-rerun")
    assert v.version() == installed == stream_rerun.__version__
    assert Version(installed)  # raises InvalidVersion otherwise


def test_without_an_installed_distribution_the_version_says_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(v, "_distribution_version", missing)
    assert v.version() == v.UNKNOWN
    assert v.fields() == {"version": "0.0.0+unknown", "revision": None}


def test_fields_and_describe_carry_version_and_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v, "_distribution_version", lambda _: "0.3.1.dev2+gabcdef012.d20261128")
    assert v.fields() == {"version": "0.3.1.dev2+gabcdef012.d20261128", "revision": "abcdef012"}
    assert v.describe("stream-rerun-launch") == (
        "stream-rerun-launch 0.3.1.dev2+gabcdef012.d20261128 (git abcdef012, uncommitted changes)"
    )
    monkeypatch.setattr(v, "_distribution_version", lambda _: "0.3.0")
    assert v.describe("stream-rerun") == "stream-rerun 0.3.0"
