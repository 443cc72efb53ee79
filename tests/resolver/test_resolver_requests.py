"""The resolver served as a function: issue 15's GitHub events in as sealed CloudEvents, request
events out (command.requested for status-reporter, run.requested / run.cancel.requested)."""

from __future__ import annotations

import httpx
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.events import catalog, codec, github, schemas, sealing
from tekton_dag.testing.github import fixture
from tekton_dag.testing.recorder import EventRecorder
from tekton_dag.testing.sealing import TEST_EVENT_KEY, sealed


async def post(client: httpx.AsyncClient, event: CloudEvent) -> httpx.Response:
    message = to_binary_event(event)
    return await client.post("/", headers=dict(message.headers), content=message.body)


def published(response: httpx.Response, broker: EventRecorder) -> list[CloudEvent]:
    """What the resolver handed the Broker: the K_SINK posts, then the reply."""
    assert response.status_code == 200, response.text
    return [*broker.events, codec.decode(dict(response.headers), response.content)]


def incoming(name: str, delivery: str) -> CloudEvent:
    headers, payload = fixture(name)
    return sealed(codec.github_event(github.parse_payload(headers["X-GitHub-Event"], delivery, payload)))


def check_sealed(event: CloudEvent) -> None:
    sealing.EventKeys({sealing.KEY_ENV: TEST_EVENT_KEY}).check(event, event.get_data())


async def test_a_command_becomes_sealed_command_requests(resolver: httpx.AsyncClient, broker: EventRecorder) -> None:
    events = published(await post(resolver, incoming("issue_comment.pr-retest", "comment-1")), broker)
    assert [e.get_type() for e in events] == [catalog.COMMAND_REQUESTED] * 2
    assert sorted(e.get_id() for e in events) == ["comment-1/payments/command", "comment-1/platform/command"]
    for event in events:
        schemas.check(catalog.COMMAND_REQUESTED, event.get_data(), AssertionError)
        check_sealed(event)
        assert event.get_data()["delivery"] == "comment-1" and event.get_data()["installation_id"] == 1


async def test_a_merge_group_becomes_run_requests_on_its_sha(
    resolver: httpx.AsyncClient, broker: EventRecorder
) -> None:
    events = published(await post(resolver, incoming("merge_group.checks_requested", "queue-1")), broker)
    assert [e.get_type() for e in events] == [catalog.RUN_REQUESTED] * 2
    sha = fixture("merge_group.checks_requested")[1]["merge_group"]["head_sha"]
    for event in events:
        schemas.check(catalog.RUN_REQUESTED, event.get_data(), AssertionError)
        check_sealed(event)
        assert event.get_data()["revision"] == sha and event.get_data()["merge_group"]


async def test_a_destroyed_group_becomes_cancel_requests(resolver: httpx.AsyncClient, broker: EventRecorder) -> None:
    events = published(await post(resolver, incoming("merge_group.destroyed", "queue-2")), broker)
    assert [e.get_type() for e in events] == [catalog.RUN_CANCEL_REQUESTED] * 2
    schemas.check(catalog.RUN_CANCEL_REQUESTED, events[0].get_data(), AssertionError)


async def test_an_unsealed_rerun_is_refused(resolver: httpx.AsyncClient, broker: EventRecorder) -> None:
    _headers, payload = fixture("check_run.rerequested")
    event = codec.github_event(github.parse_payload("check_run", "press-1", payload))
    response = await post(resolver, event)
    assert response.status_code == 401 and broker.events == []
