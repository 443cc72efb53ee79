"""Issue 15's deliveries over HTTP into webhook-ingest: commands on PRs, Re-run buttons, merge queues.
Signed as GitHub signs them; what is published is the slim event; the rest is ignored with a reason;
a payload GitHub would never send is a 400 naming the field."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from support.webhook_schemas import problems
from tekton_dag.events import catalog, schemas
from tekton_dag.testing.github import delivery, fixture
from tekton_dag.testing.recorder import EventRecorder

PUBLISHED = [
    ("issue_comment.pr-retest", catalog.GITHUB_ISSUE_COMMENT),
    ("issue_comment.pr-retest-app", catalog.GITHUB_ISSUE_COMMENT),
    ("issue_comment.pr-test", catalog.GITHUB_ISSUE_COMMENT),
    ("issue_comment.pr-cancel", catalog.GITHUB_ISSUE_COMMENT),
    ("issue_comment.pr-malformed", catalog.GITHUB_ISSUE_COMMENT),  # the resolver words the reply
    ("check_run.rerequested", catalog.GITHUB_CHECK_RUN),
    ("check_suite.rerequested", catalog.GITHUB_CHECK_SUITE),
    ("merge_group.checks_requested", catalog.GITHUB_MERGE_GROUP),
    ("merge_group.destroyed", catalog.GITHUB_MERGE_GROUP),
]


@pytest.mark.parametrize(("name", "event_type"), PUBLISHED)
async def test_a_request_delivery_is_published(
    ingest: httpx.AsyncClient, broker: EventRecorder, name: str, event_type: str
) -> None:
    headers, body = delivery(name)
    response = await ingest.post("/", headers=headers, content=body)
    assert response.status_code == 202, response.text
    [event] = broker.events
    assert event.get_type() == event_type and event.get_id() == headers["X-GitHub-Delivery"]
    schemas.check(event_type, event.get_data(), AssertionError)
    assert len(json.dumps(event.get_data())) < 1_000


async def test_a_comment_travels_as_its_command_line(ingest: httpx.AsyncClient, broker: EventRecorder) -> None:
    headers, body = delivery("issue_comment.pr-retest-app")
    await ingest.post("/", headers=headers, content=body)
    payload = json.loads(body)
    assert broker.events[0].get_data() == {
        "repo": "Codertocat/Hello-World", "sender": payload["sender"]["login"], "installation_id": 1,
        "comment": {"number": 2, "command": "/retest hello", "user": payload["comment"]["user"]["login"],
                    "comment_id": payload["comment"]["id"]},
    }


async def test_merge_group_data_names_the_group(ingest: httpx.AsyncClient, broker: EventRecorder) -> None:
    headers, body = delivery("merge_group.destroyed")
    await ingest.post("/", headers=headers, content=body)
    group = json.loads(body)["merge_group"]
    assert broker.events[0].get_data()["merge_group"] == {
        "action": "destroyed", "head_sha": group["head_sha"], "head_ref": group["head_ref"],
        "base_ref": group["base_ref"], "base_sha": group["base_sha"], "reason": "dequeued",
    }


def foreign_pull(pull: dict[str, Any]) -> dict[str, Any]:
    """``pull`` as a pull request of another repository with the same head branch: a fork's parent
    (octo-sts/app#1590: a check_suite in a fork carries the parent's pull request), or any
    repository whose pull request's head is this repository's branch. GitHub lists every pull
    request whose head matches (dcoapp/app#307), whatever repository it lives in; its base
    repository (``repo-ref``: id, url, name) says which."""
    other = copy.deepcopy(pull)
    other.update(id=1, number=7, url="https://api.github.com/repos/upstream/Hello-World/pulls/7")
    other["base"]["repo"] = {"id": 1, "url": "https://api.github.com/repos/upstream/Hello-World", "name": "Hello-World"}
    return other


@pytest.mark.parametrize("name", ["check_run.rerequested", "check_suite.rerequested"])
async def test_a_rerun_names_a_pull_request_of_its_own_repository(
    ingest: httpx.AsyncClient, broker: EventRecorder, name: str
) -> None:
    """A re-run's pull request is one of the repository the check is in: another repository's
    number would start (and supersede the runs of) this repository's pull request of that number."""
    event = name.split(".")[0]
    payload = fixture(name)[1]
    own = payload[event]["pull_requests"][0]
    payload[event]["pull_requests"].insert(0, foreign_pull(own))
    alone = copy.deepcopy(payload)
    alone[event]["pull_requests"] = alone[event]["pull_requests"][:1]
    for sent in (payload, alone):
        assert not (found := problems(event, sent)), found  # both are deliveries GitHub can send
    for sent, number in ((payload, own["number"]), (alone, 0)):
        headers, body = delivery(name, payload=sent)
        response = await ingest.post("/", headers=headers, content=body)
        assert response.status_code == 202, response.text
        assert broker.events[-1].get_data()["rerun"]["pr_number"] == number, broker.events[-1].get_data()


def changed(name: str, change: Any) -> dict[str, Any]:
    payload = fixture(name)[1]
    change(payload)
    return payload


IGNORED = [
    ("issue_comment.created", None, "comment on issue #1, not on a pull request"),
    ("issue_comment.pr-chat", None, "comment is not a command"),
    ("issue_comment.pr-retest", lambda p: p.update(action="edited"), "issue_comment action 'edited' starts nothing"),
    ("issue_comment.pr-retest", lambda p: p["comment"].update(body="/lgtm\n/retest"), "comment is not a command"),
    ("check_run.rerequested", lambda p: p.update(action="completed"), "check_run action 'completed' starts nothing"),
    ("check_suite.rerequested", lambda p: p.update(action="requested"), "check_suite action 'requested'"),
    ("merge_group.checks_requested", lambda p: p.update(action="other"), "merge_group action 'other'"),
]


# GitHub lists a pull request whose head *branch* matches (check-run's pull_requests in @octokit/openapi:
# "head_sha or head_branch"; octokit/webhooks payload-examples/ghes-3*/index.json: "The head_sha of the
# check suite can differ from the sha of the pull request if subsequent pushes are made into the PR"):
# a re-run of an older head of the PR runs nothing (the resolver), but GitHub reset its checks' suite to
# queued, so the delivery is published, marked, for status-reporter to settle them (usecases.declining).
@pytest.mark.parametrize("name", ["check_run.rerequested", "check_suite.rerequested"])
async def test_a_rerun_of_an_outdated_head_is_published_marked_with_the_newer_head_and_its_suite(
    ingest: httpx.AsyncClient, broker: EventRecorder, name: str
) -> None:
    event = name.split(".")[0]
    payload = changed(name, lambda p: p[event]["pull_requests"][0]["head"].update(sha="b" * 40))
    assert not (found := problems(event, payload)), found
    headers, body = delivery(name, payload=payload)
    response = await ingest.post("/", headers=headers, content=body)
    assert response.status_code == 202 and response.json()["status"] == "accepted", response.text
    [published] = broker.events
    assert published.get_extension(catalog.EXT_OUTDATED) == "true"
    rerun = published.get_data()["rerun"]
    suite = payload[event]["check_suite"]["id"] if event == "check_run" else payload[event]["id"]
    assert (rerun["newer_head_sha"], rerun["check_suite_id"]) == ("b" * 40, suite)
    on_head = fixture(name)[1]  # as GitHub lists it when the re-run head is the PR's: not marked
    on_head[event]["pull_requests"][0]["head"]["sha"] = on_head[event]["head_sha"]
    headers, body = delivery(name, payload=on_head)
    assert (await ingest.post("/", headers=headers, content=body)).status_code == 202
    assert broker.events[-1].get_extension(catalog.EXT_OUTDATED) is None
    assert broker.events[-1].get_data()["rerun"]["newer_head_sha"] == ""


@pytest.mark.parametrize(("name", "change", "reason"), IGNORED)
async def test_other_deliveries_are_ignored_with_the_reason(
    ingest: httpx.AsyncClient, broker: EventRecorder, name: str, change: Any, reason: str
) -> None:
    payload = changed(name, change) if change else None
    if payload is not None and payload.get("action") in ("rerequested", "created"):  # a delivery GitHub sends
        assert not (found := problems(name.split(".")[0], payload)), found
    headers, body = delivery(name, payload=payload)
    response = await ingest.post("/", headers=headers, content=body)
    assert response.status_code == 202 and response.json()["status"] == "ignored"
    assert reason in response.json()["reason"]
    assert broker.events == []


BAD = [
    ("issue_comment.pr-retest", lambda p: p["issue"].pop("number"), "issue.number: missing"),
    ("issue_comment.pr-retest", lambda p: p["comment"]["user"].update(login=7), "comment.user.login: must be a string"),
    ("issue_comment.pr-retest", lambda p: p["comment"].update(id="x"), "comment.id: must be an integer"),
    ("issue_comment.pr-retest", lambda p: p.update(installation={"id": "1"}), "installation.id: must be an integer"),
    ("check_run.rerequested", lambda p: p["check_run"].update(head_sha="nope"), "check_run.head_sha: must be a commit"),
    ("check_run.rerequested", lambda p: p["check_run"].pop("name"), "check_run.name: missing"),
    ("check_run.rerequested", lambda p: p["check_run"].update(pull_requests=[1]),
     "check_run.pull_requests[0]: must be an object"),
    ("check_suite.rerequested", lambda p: p["check_suite"]["pull_requests"][0].update(number=0),
     "check_suite.pull_requests[0].number: must be a pull request number"),
    ("check_suite.rerequested", lambda p: p["check_suite"].update(pull_requests={}),
     "check_suite.pull_requests: must be an array"),
    ("merge_group.checks_requested", lambda p: p["merge_group"].update(head_ref="gh-readonly-queue/x"),
     "merge_group.head_ref: must be a full branch ref"),
    ("merge_group.checks_requested", lambda p: p["merge_group"].pop("head_sha"), "merge_group.head_sha: missing"),
    ("merge_group.destroyed", lambda p: p.update(reason="bored"), "reason: must be why a destroyed group went"),
]


@pytest.mark.parametrize(("name", "change", "message"), BAD)
async def test_a_payload_github_never_sends_is_a_400_naming_the_field(
    ingest: httpx.AsyncClient, broker: EventRecorder, name: str, change: Any, message: str
) -> None:
    headers, body = delivery(name, payload=changed(name, change))
    response = await ingest.post("/", headers=headers, content=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["reason"], response.json()["reason"]
    assert broker.events == []
