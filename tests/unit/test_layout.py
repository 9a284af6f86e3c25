"""The three programs stay in their rooms: the worker imports neither the launcher nor the developer tooling, the
launcher takes from the worker only its settings, error vocabulary, version and consumer discovery (the plan lists
who will see the re-fire as the worker does), and nothing parses AWS errors but
errors.py. Key sources are of one shape: the engine and __main__ know only the protocol (stream_rerun.sources), and a
source module imports no other source (the shared modules of sources/ start with _)."""

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


def imported_names(path: Path) -> set[str]:
    """As `imports`, plus `package.name` for each `from package import name` (a module imported that way)."""
    tree = ast.parse(path.read_text())
    found = imports(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.py"))


SOURCES = SRC / "stream_rerun" / "sources"
WORKER = [*modules(SRC / "stream_rerun"), *modules(SOURCES)]


def concrete_sources() -> list[Path]:
    return [path for path in modules(SOURCES) if not path.name.startswith("_")]


def source_modules_in(names: set[str]) -> set[str]:
    concrete = {f"stream_rerun.sources.{path.stem}" for path in concrete_sources()}
    return {name for name in names if name in concrete or name.rpartition(".")[0] in concrete}


def test_the_worker_reaches_neither_the_launcher_nor_developer_tooling() -> None:
    for path in WORKER:
        bad = {m for m in imports(path) if m.startswith(("stream_rerun.launch", "stream_rerun_dev"))}
        assert not bad, f"{path.name} imports {bad}"


def test_the_launcher_takes_only_settings_errors_and_the_version_from_the_worker() -> None:
    for path in modules(SRC / "stream_rerun" / "launch"):
        worker = {m for m in imports(path) if m.startswith("stream_rerun.") and not m.startswith("stream_rerun.launch")}
        allowed = {"stream_rerun.config", "stream_rerun.errors", "stream_rerun.version", "stream_rerun.consumers"}
        assert worker <= allowed, f"{path.name} imports {worker}"


def test_the_version_module_stands_alone() -> None:
    # The launcher imports it (--version) and the package's __init__ does: it must pull in nothing of the worker.
    assert imports(SRC / "stream_rerun" / "version.py") <= {"__future__", "re", "importlib.metadata"}
    assert imports(SRC / "stream_rerun" / "__init__.py") == {"stream_rerun.version"}


def test_only_errors_py_reads_aws_error_responses() -> None:
    for path in [*WORKER, *modules(SRC / "stream_rerun" / "launch")]:
        if path.name != "errors.py":
            assert '.response.get("Error"' not in path.read_text() and '["Error"]' not in path.read_text(), path.name


def test_the_engine_and_main_know_only_the_source_protocol() -> None:
    for name in ("engine.py", "__main__.py"):
        bad = source_modules_in(imported_names(SRC / "stream_rerun" / name))
        assert not bad, f"{name} imports {bad}"


def test_a_source_module_imports_no_other_source_and_not_the_launcher() -> None:
    assert {path.stem for path in concrete_sources()} >= {
        "partition",
        "index_dates",
        "whole_table",
        "keyfile",
        "export",
    }
    for path in concrete_sources():
        names = imported_names(path)
        others = source_modules_in(names) - {f"stream_rerun.sources.{path.stem}"}
        assert not others, f"{path.name} imports {others}"
        assert not {m for m in names if m.startswith("stream_rerun.launch")}, path.name


def test_the_shared_modules_of_sources_import_no_source() -> None:
    for path in modules(SOURCES):
        if path.name.startswith("_") and path.name != "__init__.py":
            assert not source_modules_in(imported_names(path)), path.name
