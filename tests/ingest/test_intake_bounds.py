"""webhook-ingest refuses, at the edge, any field the chain relies on that GitHub would never send.

Signed deliveries whose PR number, shas, refs or repository names are out of GitHub's bounds get
400 naming the payload field and the rule, and nothing is published (before, they got 202 and
went to the dead-letter file later, or made a run with a 71-character label).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tekton_dag.events import catalog, github, schemas
from tekton_dag.testing.github import delivery, fixture
from tekton_dag.testing.recorder import EventRecorder

Mutation = Callable[[dict[str, Any]], None]


def pr(**fields: Any) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        for path, value in fields.items():
            node = payload
            *parents, last = path.split("__")
            for part in parents:
                node = node[part]
            node[last] = value
    return mutate


OUT_OF_BOUNDS = [
    ("pull_request.opened", pr(pull_request__number=10**70), "pull_request.number: must be a pull request number"),
    ("pull_request.opened", pr(pull_request__number=0), "pull_request.number: must be a pull request number"),
    ("pull_request.opened", pr(pull_request__number=2**31), "an integer from 1 to 2147483647"),
    ("pull_request.opened", pr(pull_request__head__sha="abc123"), "pull_request.head.sha: must be a commit sha"),
    ("pull_request.opened", pr(pull_request__head__sha="A" * 40), "pull_request.head.sha: must be a commit sha"),
    (
        "pull_request.closed-merged",
        pr(pull_request__merge_commit_sha="z" * 40),
        "pull_request.merge_commit_sha: must be",
    ),
    ("pull_request.opened", pr(pull_request__base__ref="main..x"), "pull_request.base.ref: must be a git branch name"),
    (
        "pull_request.opened",
        pr(pull_request__head__ref="feature/x.lock"),
        "pull_request.head.ref: must be a git branch",
    ),
    ("pull_request.opened", pr(pull_request__head__ref="a b"), "pull_request.head.ref: must be a git branch name"),
    ("pull_request.opened", pr(pull_request__head__ref="x" * 256), "... (258 characters)"),
    ("pull_request.opened", pr(repository__full_name="octo/.."), "repository.full_name: must be owner/name as GitHub"),
    ("pull_request.opened", pr(repository__full_name="-octo/repo"), "repository.full_name: must be owner/name"),
    ("pull_request.opened", pr(repository__full_name="o" * 40 + "/repo"), "repository.full_name: must be owner/name"),
    ("pull_request.opened", pr(repository__full_name="octo/" + "r" * 101), "repository.full_name: must be owner/name"),
    (
        "pull_request.opened",
        pr(pull_request__base__repo__full_name="a/b/c"),
        "pull_request.base.repo.full_name: must be",
    ),
    (
        "pull_request.opened",
        pr(pull_request__head__repo__full_name="a b/c"),
        "pull_request.head.repo.full_name: must be",
    ),
    ("pull_request.opened", pr(sender__login="x" * 101), "sender.login: must be a GitHub login"),
    ("push.branch", pr(ref="refs/heads/a..b"), "ref: must be a full git ref"),
    ("push.branch", pr(ref="main"), "ref: must be a full git ref"),
    ("push.branch", pr(after="f" * 39), "after: must be a commit sha"),
    ("push.branch", pr(before="nothex" * 7), "before: must be a commit sha"),
]


@pytest.mark.parametrize(("name", "mutate", "reason"), OUT_OF_BOUNDS,
                         ids=[f"{n}-{r.split(':')[0]}-{i}" for i, (n, _, r) in enumerate(OUT_OF_BOUNDS)])
async def test_a_field_github_would_never_send_is_400_and_nothing_is_published(
        ingest: httpx.AsyncClient, broker: EventRecorder, name: str, mutate: Mutation, reason: str) -> None:
    _, payload = fixture(name)
    mutate(payload)
    headers, body = delivery(name, payload=payload)
    response = await ingest.post("/webhook/github", headers=headers, content=body)
    assert response.status_code == 400, response.text
    assert response.json()["status"] == "rejected" and reason in response.json()["reason"], response.json()["reason"]
    assert len(response.text) < 1_000  # a refused value is not echoed back whole
    assert broker.events == []


WITHIN_BOUNDS = [
    pr(pull_request__number=2**31 - 1),
    pr(pull_request__head__ref="feature/ünïcode-✓"),  # git allows any non-control UTF-8
    pr(pull_request__head__ref="release/1.2.x"),
    pr(repository__full_name="a/b", pull_request__base__repo__full_name="a/b"),
    pr(repository__full_name="name_emu/.github", pull_request__base__repo__full_name="name_emu/.github"),  # EMU owner
    pr(sender__login="dependabot[bot]"),
]


@pytest.mark.parametrize("mutate", WITHIN_BOUNDS)
async def test_what_github_does_send_is_still_accepted(
    ingest: httpx.AsyncClient, broker: EventRecorder, mutate: Mutation
) -> None:
    _, payload = fixture("pull_request.opened")
    mutate(payload)
    headers, body = delivery("pull_request.opened", payload=payload)
    response = await ingest.post("/webhook/github", headers=headers, content=body)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("name", ["pull_request.opened", "pull_request.synchronize", "pull_request.closed-merged",
                                  "push.branch", "push.tag"])
def test_what_intake_accepts_the_resolver_accepts(name: str) -> None:
    headers, payload = fixture(name)
    event = github.parse_payload(headers["X-GitHub-Event"], "d", payload)
    schemas.check(event.cloudevent_type, event.to_data(), AssertionError)  # the same schema, the resolver's check
    assert github.GitHubEvent.from_data(event.cloudevent_type, "d", json.loads(json.dumps(event.to_data()))) == event


async def test_a_manual_run_with_a_pr_number_beyond_github_is_400(
    make_ingest: Callable[..., Any], broker: EventRecorder
) -> None:
    api = await make_ingest(TEKTON_DAG_API_TOKEN="t")
    body = {"team": "platform", "stack": "web", "pr": {"number": 10**70, "head_sha": "a" * 40}}
    response = await api.post("/api/run", headers={"Authorization": "Bearer t"}, json=body)
    assert response.status_code == 400 and "pr.number" in response.json()["reason"], response.text
    assert broker.events == []


def test_one_bound_for_pr_numbers_everywhere() -> None:
    from tekton_dag.events.requests import MAX_PR_NUMBER

    pull_request = schemas.load(catalog.GITHUB_PULL_REQUEST)["properties"]["pull_request"]["properties"]["number"]
    requested = schemas.load(catalog.RUN_REQUESTED)["properties"]["pr"]["anyOf"][1]["properties"]["number"]
    assert pull_request["maximum"] == requested["maximum"] == MAX_PR_NUMBER == 2**31 - 1
