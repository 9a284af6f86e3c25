"""The three programs stay in their rooms: the worker imports neither the launcher nor the developer tooling, the
launcher takes from the worker only its settings, error vocabulary and version, and nothing parses AWS errors but
errors.py."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def modules(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.py"))


def test_the_worker_reaches_neither_the_launcher_nor_developer_tooling() -> None:
    for path in modules(SRC / "stream_rerun"):
        bad = {m for m in imports(path) if m.startswith(("stream_rerun.launch", "stream_rerun_dev"))}
        assert not bad, f"{path.name} imports {bad}"


def test_the_launcher_takes_only_settings_errors_and_the_version_from_the_worker() -> None:
    for path in modules(SRC / "stream_rerun" / "launch"):
        worker = {m for m in imports(path) if m.startswith("stream_rerun.") and not m.startswith("stream_rerun.launch")}
        assert worker <= {"stream_rerun.config", "stream_rerun.errors", "stream_rerun.version"}, (
            f"{path.name} imports {worker}"
        )


def test_the_version_module_stands_alone() -> None:
    # The launcher imports it (--version) and the package's __init__ does: it must pull in nothing of the worker.
    assert imports(SRC / "stream_rerun" / "version.py") <= {"__future__", "re", "importlib.metadata"}
    assert imports(SRC / "stream_rerun" / "__init__.py") == {"stream_rerun.version"}


def test_only_errors_py_reads_aws_error_responses() -> None:
    for path in [*modules(SRC / "stream_rerun"), *modules(SRC / "stream_rerun" / "launch")]:
        if path.name != "errors.py":
            assert '.response.get("Error"' not in path.read_text() and '["Error"]' not in path.read_text(), path.name
