"""`tekton-dag serve webhook-ingest` as a real process on a real socket, publishing to a loopback sink."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tekton_dag.events import catalog
from tekton_dag.testing.github import SHARED_SECRET, delivery, environment, write_teams
from tekton_dag.testing.recorder import EventRecorder
from tekton_dag.testing.serving import Served, served_function


@pytest.fixture(scope="module")
def sink() -> Iterator[EventRecorder]:
    sink = EventRecorder()
    with sink.serving():
        yield sink


@pytest.fixture(autouse=True)
def _fresh_sink(sink: EventRecorder) -> None:
    sink.received.clear()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sink: EventRecorder) -> Iterator[Served]:
    """One server for the module: starting Python + hypercorn takes a second or two."""
    root = tmp_path_factory.mktemp("serve")
    env = {**environment(write_teams(root / "teams")), "K_SINK": sink.url}
    with served_function("webhook-ingest", env, root, ready_path="/readyz") as server:
        yield server
    assert SHARED_SECRET not in server.output  # secrets never reach the log
    assert "sha256=" not in server.output  # nor signatures
    assert "delivery " in server.output  # but each delivery is logged


def test_a_signed_delivery_over_a_real_socket_reaches_the_sink(served: Served, sink: EventRecorder) -> None:
    headers, body = delivery("pull_request.opened")
    response = httpx.post(f"{served.url}/webhook/github", headers=headers, content=body, timeout=5)
    assert response.status_code == 202, response.text
    [event] = sink.received
    assert event.get_type() == catalog.GITHUB_PULL_REQUEST
    assert event.get_id() == headers["X-GitHub-Delivery"]


def test_a_bad_signature_over_a_real_socket_is_401(served: Served, sink: EventRecorder) -> None:
    headers, body = delivery("pull_request.opened", secret="not-the-secret")
    response = httpx.post(served.url, headers=headers, content=body, timeout=5)
    assert response.status_code == 401
    assert response.json()["reason"]
    assert sink.received == []


def test_serve_refuses_an_unknown_function() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tekton_dag.cli.main", "serve", "nope"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "webhook-ingest" in result.stderr


def test_serve_refuses_a_niceness_it_cannot_apply_naming_the_variable() -> None:
    env = {**os.environ, "TEKTON_DAG_NICE": "-5"}  # `tekton-dag dev` sets 0-19 (devchain.priority)
    result = subprocess.run(
        [sys.executable, "-m", "tekton_dag.cli.main", "serve", "resolver"], capture_output=True, text=True, env=env,
        timeout=30,  # a serve that ignored the variable would serve on: fail, not hang
    )
    assert result.returncode == 1
    assert "TEKTON_DAG_NICE='-5': must be a whole number from 0 to 19" in result.stderr
    assert "Traceback" not in result.stderr
