"""`tekton-dag serve resolver` as a real process: a binary CloudEvent in, the fan-out at a loopback
sink and the last event as the reply."""

from __future__ import annotations

from pathlib import Path

import httpx
from cloudevents.core.bindings.http import to_binary_event

from tekton_dag.events import catalog, codec, github
from tekton_dag.testing.github import environment, fixture, write_teams
from tekton_dag.testing.recorder import EventRecorder
from tekton_dag.testing.sealing import sealed
from tekton_dag.testing.serving import served_function


def test_the_resolver_fans_out_over_real_sockets(tmp_path: Path) -> None:
    headers, payload = fixture("pull_request.opened")
    event = sealed(codec.github_event(github.parse_payload("pull_request", headers["X-GitHub-Delivery"], payload)))
    message = to_binary_event(event)
    sink = EventRecorder()
    with sink.serving():
        env = {**environment(write_teams(tmp_path / "teams")), "K_SINK": sink.url}
        with served_function("resolver", env, tmp_path) as server:
            response = httpx.post(server.url, headers=dict(message.headers), content=message.body, timeout=5)
    assert response.status_code == 200
    events = [*sink.received, codec.decode(dict(response.headers), response.content)]
    assert [e.get_type() for e in events] == [catalog.RUN_REQUESTED] * 2
    assert {e.get_extension("team") for e in events} == {"payments", "platform"}
