"""The module README's inputs and outputs tables, generated from variables.tf and outputs.tf (as terraform-docs
does), between the BEGIN_TF_DOCS / END_TF_DOCS markers. `make tf-docs` rewrites them; a test checks they are current.

    python -m stream_rerun_dev.tfdocs [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import hcl2

MODULE = Path(__file__).resolve().parents[2] / "terraform" / "modules" / "stream-rerun"
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def _plain(value: Any) -> Any:
    """python-hcl2 keeps string literals quoted and ${} around expressions: show them as Terraform source does."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1]
        match = re.fullmatch(r"\$\{(.*)\}", value, re.DOTALL)
        return match.group(1) if match else value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items() if k != "__is_block__"}
    return value


def _blocks(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    with path.open() as handle:
        parsed = hcl2.load(handle)
    return {_plain(name): _plain(body) for block in parsed.get(kind, []) for name, body in block.items()}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(body: dict[str, Any]) -> str:
    if "default" not in body:
        return "required"
    value = body["default"]
    return "`null`" if value is None else f"`{json.dumps(value)}`"


def render(module: Path = MODULE) -> str:
    """The generated section (markers included)."""
    lines = [BEGIN, "## Inputs", "", "| name | type | default | description |", "| --- | --- | --- | --- |"]
    for name, body in sorted(_blocks(module / "variables.tf", "variable").items()):
        lines.append(f"| `{name}` | `{body['type']}` | {_default(body)} | {_cell(body['description'])} |")
    lines += ["", "## Outputs", "", "| name | description |", "| --- | --- |"]
    for name, body in sorted(_blocks(module / "outputs.tf", "output").items()):
        lines.append(f"| `{name}` | {_cell(body['description'])} |")
    return "\n".join([*lines, END])


def current(readme: Path) -> str:
    text = readme.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when the README is not current")
    args = parser.parse_args(argv)
    readme = MODULE / "README.md"
    fresh = render()
    if args.check:
        if current(readme) != fresh:
            print(f"{readme} is out of date: make tf-docs", file=sys.stderr)
            return 1
        return 0
    text = readme.read_text()
    readme.write_text(text.replace(current(readme), fresh))
    print(f"wrote {readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
