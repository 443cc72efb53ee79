"""The resolver function over HTTP: CloudEvents in (binary and structured); the last event out is
the reply, any others fan out to K_SINK first."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag import pipelines
from tekton_dag.events import catalog, codec, github, schemas
from tekton_dag.testing.github import REPO, fixture
from tekton_dag.testing.recorder import EventRecorder
from tekton_dag.testing.sealing import sealed

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


def github_cloudevent(name: str, delivery: str = "delivery-1", signed_for: str = "", **changes: object) -> CloudEvent:
    """What webhook-ingest publishes for fixture ``name``."""
    headers, payload = fixture(name)
    if changes:
        payload["pull_request"].update(changes)
    parsed = github.parse_payload(headers["X-GitHub-Event"], delivery, payload)
    return sealed(codec.github_event(parsed, signed_for=signed_for,
                                     traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))


async def post(client: httpx.AsyncClient, event: CloudEvent, mode: str = "binary") -> httpx.Response:
    message = (to_binary_event if mode == "binary" else to_structured_event)(event)
    return await client.post("/", headers=dict(message.headers), content=message.body)


def published(response: httpx.Response, broker: EventRecorder) -> list[CloudEvent]:
    """Everything the resolver handed the Broker, in order: the K_SINK posts, then the reply."""
    assert response.status_code == 200, response.text
    return [*broker.events, codec.decode(dict(response.headers), response.content)]


@pytest.mark.parametrize("mode", ["binary", "structured"])
async def test_a_pr_fans_out_one_run_request_per_target(
    resolver: httpx.AsyncClient, broker: EventRecorder, mode: str
) -> None:
    response = await post(resolver, github_cloudevent("pull_request.opened"), mode)
    events = published(response, broker)  # never a non-CloudEvent body to the Broker
    assert len(broker.events) == 1 and [e.get_type() for e in events] == [catalog.RUN_REQUESTED] * 2
    for event, team in zip(events, ("payments", "platform"), strict=True):
        attributes = event.get_attributes()
        assert attributes["source"] == catalog.SOURCE_RESOLVER
        assert attributes["id"] == f"delivery-1/{team}/{'pay' if team == 'payments' else 'web'}/hello"
        assert attributes["team"] == team
        assert attributes["subject"] == attributes["partitionkey"] == REPO
        assert attributes["githubdelivery"] == "delivery-1"
        assert attributes["traceparent"].startswith("00-4bf92f35")
        schemas.check(catalog.RUN_REQUESTED, event.get_data(), AssertionError)
        assert event.get_data()["pipeline"] == pipelines.PR_TEST


async def test_each_event_s_decisions_are_logged_once_when_it_is_answered(
    resolver: httpx.AsyncClient, broker: EventRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """The line is written on the loop's turn after the handler (off the webhook's path), never lost."""
    caplog.set_level(logging.INFO, logger="tekton_dag.resolver")
    for delivery in ("d-1", "d-2"):
        assert (await post(resolver, github_cloudevent("pull_request.opened", delivery))).status_code == 200
    await asyncio.sleep(0)
    lines = [r.getMessage() for r in caplog.records if r.name == "tekton_dag.resolver"]
    assert lines == [f"event {delivery} {REPO}: {pipelines.PR_TEST} for payments/pay/hello, "
                     f"{pipelines.PR_TEST} for platform/web/hello" for delivery in ("d-1", "d-2")]


async def test_a_closed_pr_requests_cancellation(resolver: httpx.AsyncClient, broker: EventRecorder) -> None:
    events = published(await post(resolver, github_cloudevent("pull_request.closed")), broker)
    assert [e.get_type() for e in events] == [catalog.RUN_CANCEL_REQUESTED] * 2
    schemas.check(catalog.RUN_CANCEL_REQUESTED, events[0].get_data(), AssertionError)


async def test_filtered_targets_end_as_visible_ignored_events(
    resolver: httpx.AsyncClient, broker: EventRecorder
) -> None:
    events = published(await post(resolver, github_cloudevent("push.branch")), broker)
    assert [e.get_type() for e in events] == [catalog.RUN_REQUESTED, catalog.EVENT_IGNORED]
    ignored = events[1]
    schemas.check(catalog.EVENT_IGNORED, ignored.get_data(), AssertionError)
    assert ignored.get_data()["reason"] == "team platform's push policy is ignore"
    assert ignored.get_data()["input_type"] == catalog.GITHUB_PUSH


async def test_an_unknown_repository_is_an_ignored_event(resolver: httpx.AsyncClient, broker: EventRecorder) -> None:
    _, payload = fixture("pull_request.opened")
    payload["repository"]["full_name"] = "nobody/unknown"
    event = sealed(codec.github_event(github.parse_payload("pull_request", "d-9", payload)))
    [ignored] = published(await post(resolver, event), broker)
    assert broker.events == []  # one event: the reply carries it, nothing goes through K_SINK
    assert ignored.get_type() == catalog.EVENT_IGNORED and ignored.get_id() == "d-9/ignored"
    assert "nobody/unknown is not an app of any stack" in ignored.get_data()["reason"]


async def test_a_team_scoped_event_reaches_only_that_team(resolver: httpx.AsyncClient, broker: EventRecorder) -> None:
    events = published(await post(resolver, github_cloudevent("pull_request.opened", signed_for="payments")), broker)
    assert [(e.get_type(), e.get_extension("team")) for e in events] == [
        (catalog.RUN_REQUESTED, "payments"), (catalog.EVENT_IGNORED, "platform")]


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("dev.tektondag.run.requested.v1", {"team": "x"}),  # not an input of the resolver
        (catalog.GITHUB_PULL_REQUEST, {"repo": REPO}),
        (catalog.GITHUB_PULL_REQUEST, "not an object"),
        (catalog.GITHUB_PUSH, {"repo": REPO, "sender": "a", "push": {"ref": "refs/heads/x", "before": "0" * 40,
                                                                      "after": "nothex", "deleted": False}}),
    ],
    ids=["foreign type", "missing pull_request", "string data", "bad sha"],
)
async def test_events_it_can_never_handle_are_400(
    resolver: httpx.AsyncClient, broker: EventRecorder, event_type: str, data: object
) -> None:
    if isinstance(data, dict):
        event = codec.build(event_type, "/test", "bad-1", data)
    else:
        event = CloudEvent(
            {"type": event_type, "source": "/test", "id": "bad-1", "datacontenttype": "text/plain"}, data
        )
    response = await post(resolver, event)
    assert response.status_code == 400
    # the reason, for the sender and the Broker's dead letter (it was an empty body, naming nothing)
    assert response.headers["content-type"] == "text/plain" and response.text.startswith(f"{event_type}: ")
    assert broker.headers == []


async def test_a_plain_http_post_is_refused_by_the_middleware(
    resolver: httpx.AsyncClient, broker: EventRecorder
) -> None:
    response = await resolver.post("/", json={"message": "Hello World"})
    assert response.status_code == 400


@pytest.mark.parametrize("state", [dict(status=500), dict(timeout=True)], ids=["broker 500", "timeout"])
async def test_a_broker_failure_is_503_so_the_broker_retries(
    resolver: httpx.AsyncClient, broker: EventRecorder, state: dict
) -> None:
    for key, value in state.items():
        setattr(broker, key, value)
    response = await post(resolver, github_cloudevent("pull_request.opened"))
    assert response.status_code == 503
    assert response.text == "the Broker did not accept the events; retry later"  # no address, no event


async def test_a_retry_publishes_the_same_event_ids(resolver: httpx.AsyncClient, broker: EventRecorder) -> None:
    first = [e.get_id() for e in published(await post(resolver, github_cloudevent("pull_request.opened")), broker)]
    broker.events.clear()
    again = [e.get_id() for e in published(await post(resolver, github_cloudevent("pull_request.opened")), broker)]
    assert first == again and len(set(first)) == 2


async def test_without_k_sink_or_config_the_answer_is_503(make_resolver: MakeClient, tmp_path) -> None:
    for env in ({"K_SINK": ""}, {"TEKTON_DAG_TEAMS_DIR": str(tmp_path / "missing")}):
        client = await make_resolver(**env)
        assert (await post(client, github_cloudevent("pull_request.opened"))).status_code == 503
