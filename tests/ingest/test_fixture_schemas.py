"""Every committed webhook fixture is a payload GitHub could send: it validates against GitHub's
webhook schemas as octokit publishes them (npm ``@octokit/webhooks-schemas``, installed into
``.tools`` by scripts/install-tools). The derived fixtures (a PR comment, a destroyed merge group,
our re-requested check run: see github_webhooks/generate.py) are held to the same rule."""

from __future__ import annotations

import pytest

from support.webhook_schemas import problems, validator
from tekton_dag.testing.github import FIXTURES, fixture

NAMES = sorted(path.stem for path in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("name", NAMES)
def test_fixture_is_what_github_sends(name: str) -> None:
    headers, payload = fixture(name)
    assert not (found := problems(headers["X-GitHub-Event"], payload)), found


def test_a_broken_fixture_is_caught() -> None:
    """The check can fail: a PR comment whose pull request link has a field GitHub never sends."""
    headers, payload = fixture("issue_comment.pr-retest")
    payload["issue"]["pull_request"]["number"] = 2
    assert list(validator(headers["X-GitHub-Event"], payload["action"]).iter_errors(payload))


def test_the_new_events_are_covered() -> None:
    events = {fixture(name)[0]["X-GitHub-Event"] for name in NAMES}
    assert {"issue_comment", "check_run", "check_suite", "merge_group"} <= events
