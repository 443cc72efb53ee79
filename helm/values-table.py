#!/usr/bin/env python3
"""Generate the values table of docs/helm.md and of the chart's README from values.yaml's `# --` comments.

values.yaml is the documentation (argo-helm / Bitnami style): each key's `# --` comment (and
the comment lines that follow it) describes the key below it. This script writes the table
between the markers in docs/helm.md and in helm/tekton-dag/README.md (what `helm show readme`
prints); ``--check`` fails when either is stale, and tests/docs checks that every value is
documented.

Usage (from the repository root)::

    python3 helm/values-table.py           # rewrite the tables
    python3 helm/values-table.py --check   # exit 1 when a table is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
VALUES = ROOT / "helm" / "tekton-dag" / "values.yaml"
DOCS = (ROOT / "docs" / "helm.md", ROOT / "helm" / "tekton-dag" / "README.md")
START, END = "<!-- values-table:start -->", "<!-- values-table:end -->"
KEY_LINE = re.compile(r"^(\s*)([A-Za-z0-9_.-]+):(\s|$)")
DOC_LINE = re.compile(r"^\s*# -- (.*)$")
MORE_LINE = re.compile(r"^\s*# ?(.*)$")
PIPE = "\\|"  # a literal | inside a Markdown table cell


@dataclass(frozen=True)
class Value:
    path: str
    description: str
    default: Any


def lookup(tree: Any, path: list[str]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def documented_values(text: str) -> list[Value]:
    """Every key preceded by a `# --` comment, with its dotted path and default."""
    tree = yaml.safe_load(text)
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    found = []
    for line in text.splitlines():
        if (doc := DOC_LINE.match(line)) is not None:
            pending = [doc.group(1)]
        elif pending is not None and line.strip().startswith("#"):
            pending.append(MORE_LINE.match(line).group(1))
        elif (key := KEY_LINE.match(line)) is not None:
            indent = len(key.group(1))
            stack = [(i, k) for i, k in stack if i < indent] + [(indent, key.group(2))]
            if pending is not None:
                path = [k for _, k in stack]
                found.append(Value(".".join(path), " ".join(pending), lookup(tree, path)))
            pending = None
        elif not line.strip():
            pending = None
    return found


def table(values: list[Value]) -> str:
    rows = ["| Key | Default | Description |", "|---|---|---|"]
    for value in values:
        default = json.dumps(value.default, separators=(", ", ": ")).replace("|", PIPE)
        description = value.description.replace("|", PIPE)
        rows.append(f"| `{value.path}` | `{default}` | {description} |")
    return "\n".join(rows)


def with_table(doc: str, values: list[Value], path: Path) -> str:
    before, _, rest = doc.partition(START)
    _, _, after = rest.partition(END)
    if not rest:
        raise SystemExit(f"{path}: markers {START} / {END} not found")
    return f"{before}{START}\n{table(values)}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when stale")
    args = parser.parse_args(argv)
    values = documented_values(VALUES.read_text(encoding="utf-8"))
    stale = 0
    for path in DOCS:
        doc = path.read_text(encoding="utf-8")
        expected = with_table(doc, values, path)
        if expected == doc:
            continue
        stale += 1
        if args.check:
            print(f"{path.relative_to(ROOT)}: values table stale: run python3 helm/values-table.py", file=sys.stderr)
        else:
            path.write_text(expected, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
