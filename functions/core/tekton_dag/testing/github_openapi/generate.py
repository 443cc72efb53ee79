"""Regenerate ``operations.json`` beside this file: the part of GitHub's official OpenAPI description
(npm ``@octokit/openapi@23.0.2``, ``generated/api.github.com.json``) that tekton-dag calls.

    scripts/install-tools   # installs @octokit/openapi into .tools/node_modules
    python functions/core/tekton_dag/testing/github_openapi/generate.py [--check] [SPEC.json]

Only the operations in ``OPERATIONS`` are kept, with every component they reference (transitively)
and nothing else (``examples`` are dropped), so the GitHub API double loads ~1% of the 13 MB
description. The text is GitHub's, unchanged: the double converts OpenAPI 3.0 (``nullable``) to JSON
Schema when it compiles. ``--check`` writes nothing and exits 1 when the committed file is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
OUTPUT = HERE / "operations.json"
PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"
DEFAULT_SPEC = (HERE.parents[4] / ".tools" / "node_modules" / PACKAGE / "generated" / "api.github.com.json")

# (method, path) of every call tekton-dag makes (tekton_dag.github) — the double serves these.
OPERATIONS = (
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("post", "/repos/{owner}/{repo}/check-runs"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/check-suites/{check_suite_id}/check-runs"),
    ("post", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/app/hook/deliveries"),
    ("post", "/app/hook/deliveries/{delivery_id}/attempts"),
    ("get", "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries"),
    ("post", "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}/attempts"),
)


def _without_examples(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_examples(v) for k, v in node.items() if k not in ("examples", "example")}
    if isinstance(node, list):
        return [_without_examples(v) for v in node]
    return node


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                found.add(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path in OPERATIONS:
        paths.setdefault(path, {})[method] = _without_examples(spec["paths"][path][method])
    components: dict[str, dict[str, Any]] = {}
    pending = _refs(paths)
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)  # "#/components/<kind>/<name>"
        node = _without_examples(spec["components"][kind][name])
        components.setdefault(kind, {})[name] = node
        pending |= _refs(node)
    return {
        "openapi": spec["openapi"],
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"],
                 "x-source": f"npm {PACKAGE}@{VERSION} generated/api.github.com.json"},
        "paths": paths,
        "components": {kind: dict(sorted(items.items())) for kind, items in sorted(components.items())},
    }


def render(spec_path: Path) -> str:
    spec = json.loads(spec_path.read_text())
    return json.dumps(extract(spec), indent=1, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    given = [a for a in argv if a != "--check"]
    spec_path = Path(given[0]) if given else DEFAULT_SPEC
    if not spec_path.is_file():
        print(f"generate: {spec_path} not found (scripts/install-tools installs {PACKAGE}@{VERSION})", file=sys.stderr)
        return 1
    text = render(spec_path)
    if check:
        if not OUTPUT.is_file() or OUTPUT.read_text() != text:
            print(f"generate: {OUTPUT} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
