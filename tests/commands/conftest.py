"""Fixtures for PR commands through status-reporter: the example teams (team default with checks),
the GitHub API double reached through the real client (App auth, installation 1001), a Broker
that records what status-reporter publishes, and command.requested events as the resolver seals them."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event, to_binary_event
from cloudevents.core.v1.event import CloudEvent
from func_python.cloudevent import ASGIApplication

from tekton_dag.events import catalog, codec
from tekton_dag.events.requests import CommandRequest, CommandTarget
from tekton_dag.events.sealing import KEY_ENV
from tekton_dag.functions.lifecycle import Wiring
from tekton_dag.functions.status_reporter import StatusReporterFunction, new
from tekton_dag.github.client import Client
from tekton_dag.github.settings import AppCredentials, Settings
from tekton_dag.testing.github_api import TEST_NOTIFICATION_INTERVAL_S, TEST_WRITE_INTERVAL_S, GitHubApiDouble
from tekton_dag.testing.sealing import TEST_EVENT_KEY, sealed

ROOT = Path(__file__).resolve().parents[2]
REPO = "jmjava/tekton-dag-vue-fe"  # app demo-fe of stack-one, team default (teams/)
INSTALLATION = 1001
HEAD = "4f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"
SINK = "http://broker.test/tekton-dag/tekton-dag"


def teams_copy(directory: Path, extra: str = "github:\n  checks: true\n") -> Path:
    """The example teams, with ``extra`` appended to team default's team.yaml."""
    shutil.copytree(ROOT / "teams", directory)
    team_file = directory / "default" / "team.yaml"
    team_file.write_text(team_file.read_text() + extra)
    return directory


@dataclass
class RecordingBroker:
    """An ASGI stand-in for the Broker's ingress: keeps each event; answers ``status``."""

    status: int = 202
    events: list[CloudEvent] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        if self.status < 300:
            self.events.append(from_http_event(HTTPMessage(headers, body)))  # type: ignore[arg-type]
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def github() -> Iterator[GitHubApiDouble]:
    double = GitHubApiDouble(installations={INSTALLATION: None})
    with double:
        double.set_pull(REPO, 42, HEAD, "main")
        double.set_permission(REPO, "writer", "write")
        double.set_permission(REPO, "reader", "read")
        yield double


def client_of(github: GitHubApiDouble, deadline_s: float = 5.0) -> Client:
    """The real client, as status-reporter makes it from GITHUB_APP_ID and its key."""
    return Client(Settings(api_url=github.url, app=AppCredentials(github.app_id, github.private_key_pem),
                           deadline_s=deadline_s, write_interval_s=TEST_WRITE_INTERVAL_S,
                           notification_interval_s=TEST_NOTIFICATION_INTERVAL_S))


def command_event(action: str = "retest", user: str = "writer", delivery: str = "comment-1",
                  targets: tuple[tuple[str, str], ...] = (("stack-one", "demo-fe"),), error: str = "",
                  text: str = "", team: str = "default") -> CloudEvent:
    """A ``command.requested`` as the resolver publishes it (sealed with the team's key)."""
    request = CommandRequest(
        team=team, repo=REPO, pr_number=42, user=user, command=text or f"/{action or 'test'}", action=action,
        delivery=delivery, comment_id=7, installation_id=INSTALLATION,
        targets=tuple(CommandTarget(s, a) for s, a in targets), error=error,
    )
    event = codec.request_event(request, catalog.SOURCE_RESOLVER, catalog.derived_id(delivery, team, "command"),
                                repo=REPO, github_delivery=delivery)
    return sealed(event)


@dataclass
class Served:
    function: StatusReporterFunction
    client: httpx.AsyncClient
    broker: RecordingBroker
    github: GitHubApiDouble

    async def post(self, event: CloudEvent) -> httpx.Response:
        message = to_binary_event(event)
        return await self.client.post("/", headers=dict(message.headers), content=message.body)

    def calls(self) -> list[str]:
        return [c.operation for c in self.github.calls if c.operation != "apps/create-installation-access-token"]


@contextlib.asynccontextmanager
async def serving(github: GitHubApiDouble, teams: Path, tmp_path: Path, *, sink: str | None = SINK,
                  broker: RecordingBroker | None = None, deadline_s: float = 5.0) -> AsyncIterator[Served]:
    """status-reporter started as in a cluster (K_SINK, the event key, GitHub's client) and served
    over ASGI; runs are read from a dry-run directory (commands read none)."""
    broker = broker or RecordingBroker()
    client = client_of(github, deadline_s)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=broker)) as bus:  # type: ignore[arg-type]
        function = new(Wiring(github=client, broker=bus))
        env = {"TEKTON_DAG_TEAMS_DIR": str(teams), "TEKTON_DAG_CONFIG_RELOAD_S": "0", KEY_ENV: TEST_EVENT_KEY,
               "TEKTON_DAG_DRY_RUN_DIR": str(tmp_path / "runs"), **({"K_SINK": sink} if sink else {})}
        function.start(env)
        transport = httpx.ASGITransport(app=ASGIApplication(function))
        async with httpx.AsyncClient(transport=transport, base_url="http://status-reporter") as served:
            yield Served(function, served, broker, github)
        function.stop()
    await client.aclose()


@pytest.fixture
def teams(tmp_path: Path) -> Path:
    return teams_copy(tmp_path / "teams")


@pytest.fixture
async def served(github: GitHubApiDouble, teams: Path, tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(github, teams, tmp_path) as running:
        yield running
