"""Every field a producer sends is named in its event's schema (docs/events.md shows them).

The GitHub events' and the outcomes' schemas are open (a consumer ignores what it does not know),
so validating against them cannot tell an undeclared field: here each schema is closed at every
level first, then what the producers build is checked against it."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from tekton_dag.events import catalog, github, schemas
from tekton_dag.events.requests import CancelRequest, PullRequestRef, RunRequest
from tekton_dag.functions.run_creator import _outcome_data
from tekton_dag.testing.github import FIXTURES, fixture
from tekton_dag.usecases.creating import Outcome

SHA, OLDER = "a" * 40, "b" * 40


def closed(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` on every object that lists properties."""
    schema = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def undeclared(event_type: str, data: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(closed(schemas.load(event_type)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator.iter_errors(data)]


def github_samples() -> list[tuple[str, dict[str, Any]]]:
    samples = []
    for path in sorted(FIXTURES.glob("*.json")):
        headers, payload = fixture(path.stem)
        try:
            event = github.parse_payload(headers["X-GitHub-Event"], headers["X-GitHub-Delivery"], payload)
        except github.PayloadError:
            continue
        samples.append((path.stem, event.to_data()))
    # A synchronize carries the push that moved the head, and an App's delivery its installation.
    headers, payload = fixture("pull_request.opened")
    payload.update(action="synchronize", before=OLDER, after=SHA, installation={"id": 7})
    samples.append(("pull_request.synchronize", github.parse_payload("pull_request", "d", payload).to_data()))
    return samples


@pytest.mark.parametrize(("name", "data"), github_samples(), ids=lambda v: v if isinstance(v, str) else "")
def test_a_github_event_sends_only_what_its_schema_names(name: str, data: dict[str, Any]) -> None:
    event_type = github.CLOUDEVENT_TYPES[name.split(".")[0]]
    assert undeclared(event_type, data) == []


def request() -> RunRequest:
    return RunRequest(team="default", stack="stack-one", pipeline="stack-pr-test", delivery="d-1", app="demo-fe",
                      repo="o/demo-fe", pr=PullRequestRef(42, SHA, "main", "feature", OLDER), installation_id=7)


@pytest.mark.parametrize("kind", ["created", "queued", "failed"])
def test_a_run_outcome_sends_only_what_its_schema_names(kind: str) -> None:
    outcome = Outcome(kind, request(), "stack-one-demo-fe-pr42-0123456789", "ns", reason="why" * (kind == "failed"),
                      superseded=("older-run",), position=3 * (kind == "queued"))
    event_type = {"created": catalog.RUN_CREATED, "queued": catalog.RUN_QUEUED, "failed": catalog.RUN_FAILED}[kind]
    assert undeclared(event_type, _outcome_data(outcome, limit=2)) == []


@pytest.mark.parametrize("merge_group", ["", "refs/heads/gh-readonly-queue/main/pr-42-" + SHA])
def test_run_cancelled_sends_only_what_its_schema_names(merge_group: str) -> None:
    cancel = CancelRequest("default", "stack-one", "demo-fe", 42, "closed", "d-1", SHA, merge_group)
    # run-creator's reply: the request's data and the runs it stopped (functions/run_creator.py)
    assert undeclared(catalog.RUN_CANCELLED, {**cancel.to_data(), "pipelineruns": ["r-1"]}) == []
