"""resolver served in-process through func-python's CloudEvent ASGI app, with a fake Broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import func_python.cloudevent
import httpx
import pytest

from tekton_dag.config.index import ResolverIndex
from tekton_dag.config.loading import load_config
from tekton_dag.functions.lifecycle import Wiring
from tekton_dag.functions.resolver import new
from tekton_dag.testing.github import environment, write_teams
from tekton_dag.testing.recorder import EventRecorder


@pytest.fixture
def teams(tmp_path: Path) -> Path:
    return write_teams(tmp_path / "teams")


@pytest.fixture
def index(teams: Path) -> ResolverIndex:
    result = load_config(teams)
    assert result.config is not None, result.errors
    return ResolverIndex.from_config(result.config)


@pytest.fixture
def broker() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
async def make_resolver(
    teams: Path, broker: EventRecorder
) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    clients: list[httpx.AsyncClient] = []

    async def make(**env: str) -> httpx.AsyncClient:
        function = new(Wiring(broker=broker.client()))
        function.start({k: v for k, v in environment(teams, **env).items() if v != ""})  # no lifespan in ASGITransport
        app = func_python.cloudevent.ASGIApplication(function)
        clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://resolver.test"))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def resolver(make_resolver: Callable[..., Awaitable[httpx.AsyncClient]]) -> httpx.AsyncClient:
    return await make_resolver()
