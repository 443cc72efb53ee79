"""Every committed webhook fixture is a payload GitHub could send: it validates against GitHub's
webhook schemas as octokit publishes them (npm ``@octokit/webhooks-schemas``, installed into
``.tools`` by scripts/install-tools). The derived fixtures (a PR comment, a destroyed merge group,
our re-requested check run: see github_webhooks/generate.py) are held to the same rule."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tekton_dag.testing.github import FIXTURES, fixture

SCHEMA = Path(__file__).parents[2] / ".tools" / "node_modules" / "@octokit" / "webhooks-schemas" / "schema.json"
NAMES = sorted(path.stem for path in FIXTURES.glob("*.json"))


@functools.cache
def webhook_schemas() -> dict[str, Any]:
    if not SCHEMA.is_file():
        pytest.fail(f"{SCHEMA} is missing: run scripts/install-tools")
    document: dict[str, Any] = json.loads(SCHEMA.read_text())
    return document


def validator(event: str, action: str | None) -> jsonschema.Draft7Validator:
    """The schema of one event and action: ``<event>$<action>`` (``<event>$event`` without actions),
    resolved within the whole document so its ``#/definitions/...`` references work."""
    document = webhook_schemas()
    definitions = document["definitions"]
    name = f"{event}${action}" if action else f"{event}$event"
    assert name in definitions, f"no schema for {event} {action}"
    return jsonschema.Draft7Validator({**document, "oneOf": None, "$ref": f"#/definitions/{name}"})


@pytest.mark.parametrize("name", NAMES)
def test_fixture_is_what_github_sends(name: str) -> None:
    headers, payload = fixture(name)
    event = headers["X-GitHub-Event"]
    errors = sorted(validator(event, payload.get("action")).iter_errors(payload), key=lambda e: list(e.path))
    assert not errors, [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]]


def test_a_broken_fixture_is_caught() -> None:
    """The check can fail: a PR comment whose pull request link has a field GitHub never sends."""
    headers, payload = fixture("issue_comment.pr-retest")
    payload["issue"]["pull_request"]["number"] = 2
    assert list(validator(headers["X-GitHub-Event"], payload["action"]).iter_errors(payload))


def test_the_new_events_are_covered() -> None:
    events = {fixture(name)[0]["X-GitHub-Event"] for name in NAMES}
    assert {"issue_comment", "check_run", "check_suite", "merge_group"} <= events
