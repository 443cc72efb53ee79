"""webhook-ingest served in-process: func-python's real ASGI app, a fake Broker behind K_SINK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import func_python.http
import httpx
import pytest

from tekton_dag.functions.lifecycle import Wiring
from tekton_dag.functions.webhook_ingest import WebhookIngest, new
from tekton_dag.testing.github import environment, write_teams
from tekton_dag.testing.recorder import EventRecorder

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
def teams(tmp_path: Path) -> Path:
    return write_teams(tmp_path / "teams")


@pytest.fixture
def broker() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
async def make_ingest(teams: Path, broker: EventRecorder) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """Start webhook-ingest with ``environment(teams, **env)`` (``K_SINK=""`` unsets it)."""
    clients: list[httpx.AsyncClient] = []
    functions: list[WebhookIngest] = []

    async def make(**env: str) -> httpx.AsyncClient:
        function = new(Wiring(broker=broker.client()))
        # ASGITransport skips the lifespan protocol, so start the function as func-python would.
        function.start({k: v for k, v in environment(teams, **env).items() if v != ""})
        functions.append(function)
        app = func_python.http.ASGIApplication(function)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest.test")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
    for function in functions:
        function.stop()


@pytest.fixture
async def ingest(make_ingest: MakeClient) -> httpx.AsyncClient:
    return await make_ingest()
