"""status-reporter carrying out PR commands through its CloudEvent interface: sealed
``command.requested`` in over HTTP, GitHub through the real client against the API double (which
holds every request to GitHub's OpenAPI description), sealed requests out to the Broker (K_SINK)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cloudevents.core.v1.event import CloudEvent

from commands.conftest import (
    HEAD,
    INSTALLATION,
    REPO,
    RecordingBroker,
    Served,
    command_event,
    serving,
    teams_copy,
)
from tekton_dag import pipelines
from tekton_dag.events import catalog, codec
from tekton_dag.events.requests import CancelRequest, RunRequest
from tekton_dag.observability import metrics
from tekton_dag.pipelineruns.naming import run_name
from tekton_dag.testing.github_api import GitHubApiDouble
from tekton_dag.testing.sealing import KEYS, sealed

PERMISSION = "repos/get-collaborator-permission-level"
PULL = "pulls/get"
COMMENT = "issues/create-comment"


def requests_of(served: Served) -> list[CloudEvent]:
    for event in served.broker.events:
        KEYS.check(event, codec.data(event))  # every request published is sealed with the team's key
    return served.broker.events


async def test_a_writers_retest_publishes_a_sealed_rerun_of_the_pr_head(served: Served) -> None:
    response = await served.post(command_event())
    assert response.status_code == 202, response.text
    [event] = requests_of(served)
    assert (event.get_type(), event.get_source()) == (catalog.RUN_REQUESTED, catalog.SOURCE_STATUS_REPORTER)
    assert event.get_id() == "comment-1/default/stack-one/demo-fe" and event.get_subject() == REPO
    request = RunRequest.from_data(event.get_data())
    assert (request.team, request.stack, request.app, request.pipeline) == (
        "default", "stack-one", "demo-fe", pipelines.PR_TEST)
    assert request.revision == HEAD and request.pr is not None and request.pr.number == 42
    assert request.rerun == "comment-1" and request.installation_id == INSTALLATION
    assert served.calls() == [PERMISSION, PULL]  # no reply: the re-run's check is the answer
    assert all(c.credential == "installation" for c in served.github.calls if c.operation in (PERMISSION, PULL))


async def test_a_reader_is_refused_with_one_reply_and_nothing_published(served: Served) -> None:
    for _ in range(2):  # the Broker (or GitHub) delivers the same command twice
        assert (await served.post(command_event(user="reader", delivery="c-2"))).status_code == 202
    assert served.broker.events == []
    [reply] = served.github.comments
    assert (reply["repo"], reply["issue_number"]) == (REPO, 42)
    assert reply["body"].startswith("@reader `/retest` was not run: it needs write permission on ")
    assert "(yours: read)" in reply["body"] and "commands.users" in reply["body"]
    assert PULL not in served.calls()
    assert served.calls().count(COMMENT) == 1 and served.calls().count(PERMISSION) == 1  # the cache


async def test_the_same_refusal_delivered_twice_at_once_gets_one_reply(served: Served) -> None:
    event = command_event(user="reader", delivery="c-9")
    answers = await asyncio.gather(served.post(event), served.post(event), served.post(event))
    assert [a.status_code for a in answers] == [202] * 3
    assert len(served.github.comments) == 1


async def test_the_same_delivery_twice_makes_the_same_request_so_one_run(served: Served) -> None:
    for _ in range(2):
        assert (await served.post(command_event(delivery="c-3"))).status_code == 202
    first, again = (RunRequest.from_data(e.get_data()) for e in requests_of(served))
    assert [e.get_id() for e in served.broker.events] == ["c-3/default/stack-one/demo-fe"] * 2
    assert run_name(first) == run_name(again)  # run-creator finds the run exists: nothing new
    await served.post(command_event(delivery="c-4"))  # a second /retest comment is a second run
    assert run_name(RunRequest.from_data(served.broker.events[-1].get_data())) != run_name(first)


async def test_cancel_publishes_a_cancel_of_the_prs_runs(served: Served) -> None:
    assert (await served.post(command_event("cancel", delivery="c-5"))).status_code == 202
    [event] = requests_of(served)
    assert event.get_type() == catalog.RUN_CANCEL_REQUESTED
    cancel = CancelRequest.from_data(event.get_data())
    assert (cancel.pr_number, cancel.reason, cancel.keep_head_sha) == (42, "/cancel by writer", "")
    assert served.calls() == [PERMISSION]


async def test_a_malformed_command_gets_the_resolvers_reason_without_a_permission_call(served: Served) -> None:
    event = command_event("", targets=(), error="`/test` needs one `<stack>/<app>`.", text="/test hello")
    assert (await served.post(event)).status_code == 202
    assert [c["body"] for c in served.github.comments] == ["@writer `/test` needs one `<stack>/<app>`."]
    assert served.calls() == [COMMENT] and served.broker.events == []


async def test_a_user_listed_in_commands_users_needs_no_permission(
        github: GitHubApiDouble, tmp_path: Path) -> None:
    teams = teams_copy(tmp_path / "teams", "github:\n  checks: true\ncommands:\n  users: [Release-Bot]\n")
    async with serving(github, teams, tmp_path) as served:
        assert (await served.post(command_event(user="release-bot"))).status_code == 202
        assert len(requests_of(served)) == 1 and served.calls() == [PULL]


async def test_without_checks_an_allowed_command_is_acknowledged_once(github: GitHubApiDouble, tmp_path: Path) -> None:
    async with serving(github, teams_copy(tmp_path / "teams", ""), tmp_path) as served:
        for _ in range(2):
            assert (await served.post(command_event(delivery="c-6"))).status_code == 202
        assert [c["body"] for c in served.github.comments] == ["@writer `/retest`: running again stack-one/demo-fe."]
        assert len(served.broker.events) == 2  # the same request twice: one run


@pytest.mark.parametrize("forge", ["unsealed", "other key", "edited"])
async def test_unsealed_or_forged_commands_do_nothing(served: Served, forge: str) -> None:
    event = command_event(user="reader")
    if forge == "unsealed":
        attributes = {k: v for k, v in event.get_attributes().items() if k != catalog.EXT_SEAL}
        event = CloudEvent(attributes, event.get_data())
    elif forge == "other key":
        event = sealed(command_event(), key="another-teams-key-0123456789abcdef0123456789")
    else:  # a reader's sealed command, edited to a writer's
        event = CloudEvent(event.get_attributes(), {**codec.data(event), "user": "writer"})
    response = await served.post(event)
    assert response.status_code == (401 if forge == "unsealed" else 403)
    assert served.github.calls == [] and served.broker.events == [] and served.github.comments == []


async def test_github_unavailable_is_retried_by_the_broker(github: GitHubApiDouble, teams: Path,
                                                           tmp_path: Path) -> None:
    async with serving(github, teams, tmp_path, deadline_s=1.0) as served:
        assert (await served.post(command_event("cancel", delivery="warm"))).status_code == 202  # token fetched
        github.fail("503", times=1000, match="/pulls/")
        assert (await served.post(command_event(delivery="c-7"))).status_code == 503
        assert [e.get_id() for e in served.broker.events] == ["warm/default/stack-one/demo-fe"]
        github._faults.clear()  # GitHub is back
        assert (await served.post(command_event(delivery="c-7"))).status_code == 202  # the Broker's retry
        assert served.broker.events[-1].get_id() == "c-7/default/stack-one/demo-fe"


async def test_github_refusing_the_reply_for_good_is_logged_and_acked(served: Served) -> None:
    before = metrics.COMMANDS.labels("default", "failed")._value.get()
    served.github.fail("422", times=1, match="/comments")
    assert (await served.post(command_event(user="reader", delivery="c-8"))).status_code == 202
    assert served.github.comments == [] and metrics.COMMANDS.labels("default", "failed")._value.get() == before + 1


async def test_the_broker_refusing_a_request_is_retried(github: GitHubApiDouble, teams: Path, tmp_path: Path) -> None:
    async with serving(github, teams, tmp_path, broker=RecordingBroker(status=500)) as served:
        response = await served.post(command_event())
        assert response.status_code == 503 and "answered 500" in response.text


async def test_without_a_broker_address_commands_wait(github: GitHubApiDouble, teams: Path, tmp_path: Path) -> None:
    async with serving(github, teams, tmp_path, sink=None) as served:
        response = await served.post(command_event())
        assert response.status_code == 503 and "K_SINK is not set" in response.text
        assert served.github.calls == []


async def test_data_that_is_not_a_command_is_refused_for_good(served: Served) -> None:
    event = sealed(codec.build(catalog.COMMAND_REQUESTED, catalog.SOURCE_RESOLVER, "x", {"team": "default"},
                               subject=REPO, team="default"))
    response = await served.post(event)
    assert response.status_code == 400 and "repo: required" in response.text
