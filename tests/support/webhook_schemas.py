"""GitHub's webhook payload schemas as octokit publishes them (npm ``@octokit/webhooks-schemas``,
installed into ``.tools`` by scripts/install-tools): a payload a test builds is checked to be one
GitHub could send before it is sent."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

SCHEMA = Path(__file__).parents[2] / ".tools" / "node_modules" / "@octokit" / "webhooks-schemas" / "schema.json"


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


def problems(event: str, payload: dict[str, Any]) -> list[str]:
    """Where ``payload`` breaks the schema of ``event`` and its action (the first five)."""
    errors = sorted(validator(event, payload.get("action")).iter_errors(payload), key=lambda e: list(e.path))
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]]
