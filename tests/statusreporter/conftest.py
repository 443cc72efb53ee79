"""Fixtures for status-reporter: the example teams with checks on, the fake API (with the chart's
RBAC, status-reporter acting as its own ServiceAccount), the GitHub API double (GitHub's OpenAPI
description, App JWT and installation tokens) reached through the real client, and the served function."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent
from func_python.cloudevent import ASGIApplication

from runcreator.conftest import FAST, NAMESPACE, TEAMS, pr_request
from support.githubapi import INSTALLATION, check_calls, environment
from tekton_dag import pipelines
from tekton_dag.config.loading import load_config_or_raise
from tekton_dag.config.models import Config
from tekton_dag.events import catalog
from tekton_dag.functions.lifecycle import Wiring
from tekton_dag.functions.status_reporter import StatusReporterFunction, new
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.pipelineruns.building import build_pipelinerun
from tekton_dag.testing.github_api import GitHubApiDouble
from tekton_dag.testing.kube_api import FakeKubeApi

REPO = "jmjava/tekton-dag-vue-fe"  # demo-fe of stack-one, team default
DEADLINE_S = 2.0  # GITHUB_API_DEADLINE_SECONDS of the served function
DETAILS = "https://dashboard.example/#/namespaces/{namespace}/pipelineruns/{name}"


def teams_with_checks(directory: Path, details_url: str = DETAILS) -> Path:
    """A copy of the example teams whose team default asks for checks."""
    shutil.copytree(TEAMS, directory)
    team_file = directory / "default" / "team.yaml"
    team_file.write_text(team_file.read_text() + f"github:\n  checks: true\n  detailsUrl: {details_url!r}\n")
    return directory


@pytest.fixture
def teams(tmp_path: Path) -> Path:
    return teams_with_checks(tmp_path / "teams")


@pytest.fixture
def config(teams: Path) -> Config:
    return load_config_or_raise(teams)


@pytest.fixture
def github() -> Iterator[GitHubApiDouble]:
    with GitHubApiDouble() as double:
        yield double
    assert double.violations == [], "the double answered against GitHub's OpenAPI description"


@pytest.fixture
def github_env(github: GitHubApiDouble, tmp_path: Path) -> dict[str, str]:
    """status-reporter's GitHub settings: the App, a short deadline (GitHub "down" fails within seconds)."""
    return environment(github, tmp_path, deadline_s=DEADLINE_S)


@pytest.fixture
def admin(tekton_free_api: FakeKubeApi) -> Iterator[KubernetesStore]:
    """The cluster's admin (run-creator's part in these tests: it creates the runs)."""
    store = KubernetesStore(policy=FAST)
    yield store
    store.close()


@pytest.fixture
def reporter_store(tekton_free_api: FakeKubeApi) -> Iterator[KubernetesStore]:
    """status-reporter's store as its own ServiceAccount, with the rights the chart gives it."""
    path = tekton_free_api.kubeconfig_for(NAMESPACE, "tekton-dag-status-reporter")
    store = KubernetesStore(str(path), policy=FAST)
    yield store
    store.close()


@dataclass
class Served:
    function: StatusReporterFunction
    client: httpx.AsyncClient
    github: GitHubApiDouble
    admin: KubernetesStore
    config: Config
    store: KubernetesStore  # status-reporter's own (its ServiceAccount)
    teams: Path

    def restart(self, github_env: dict[str, str]) -> None:
        """status-reporter started again with another GitHub environment; the running one stops first."""
        self.function.stop()
        self.function = started(self.store, github_env, self.teams)
        self.client._transport = httpx.ASGITransport(app=ASGIApplication(self.function))

    async def post(self, kind: str, data: Any, id: str = "e-1", forged: bool = False) -> httpx.Response:
        """Post one event. A Tekton event follows its controller's status write, as on a cluster
        (a finished run keeps its status: a late event changes nothing); ``forged``: it does not."""
        if kind in catalog.TEKTON_PIPELINERUN_ALL and not forged:
            await self._as_tekton_wrote(data)
        event = CloudEvent(attributes={"type": kind, "source": "/test", "id": id,
                                       "datacontenttype": "application/json"}, data=data)
        message = to_binary_event(event)
        return await self.client.post("/", headers=dict(message.headers), content=message.body)

    async def _as_tekton_wrote(self, data: Any) -> None:
        run = data.get("pipelineRun") if isinstance(data, dict) else None
        metadata = run.get("metadata") if isinstance(run, dict) else None
        if not isinstance(metadata, dict) or "status" not in run:
            return
        stored = await self.admin.get_run(str(metadata.get("namespace")), str(metadata.get("name")))
        if stored is None or any(c.get("type") == "Succeeded" and c.get("status") in ("True", "False")
                                 for c in (stored.get("status") or {}).get("conditions") or ()):
            return  # gone, or finished: Tekton changes a finished run's status no more
        await self.admin.patch_run_status(stored["metadata"]["namespace"], stored["metadata"]["name"],
                                          run["status"])

    def calls(self) -> list[dict[str, Any]]:
        """The check run / commit status calls GitHub answered with success (``support.githubapi.check_calls``)."""
        return check_calls(self.github)

    async def create_run(self, number: int = 42, sha: str = "a" * 40, **changes: Any) -> dict[str, Any]:
        """A pull-request PipelineRun as run-creator builds it, created in the fake API."""
        team = self.config.team("default")
        assert team is not None
        request = pr_request(number=number, sha=sha, delivery=f"d-{number}-{sha[:4]}")
        stack = team.stack("stack-one")
        assert stack is not None
        run = build_pipelinerun(request, team, stack)
        run["metadata"]["annotations"][pipelines.A_GITHUB_INSTALLATION] = str(INSTALLATION)  # an App's webhook
        run["metadata"].update(changes)
        assert await self.admin.create_run(run)
        return run

    async def run(self, name: str) -> dict[str, Any]:
        found = await self.admin.get_run(NAMESPACE, name)
        assert found is not None
        return found


def started(store: KubernetesStore, github_env: dict[str, str], teams: Path) -> StatusReporterFunction:
    """status-reporter started as a deployment starts it: its GitHub client made from ``github_env``."""
    function = new(Wiring(store=store))
    function.start({"TEKTON_DAG_TEAMS_DIR": str(teams), "TEKTON_DAG_CONFIG_RELOAD_S": "0", **github_env})
    return function


@pytest.fixture
async def served(reporter_store: KubernetesStore, admin: KubernetesStore, github: GitHubApiDouble,
                 github_env: dict[str, str], teams: Path, config: Config) -> AsyncIterator[Served]:
    function = started(reporter_store, github_env, teams)
    transport = httpx.ASGITransport(app=ASGIApplication(function))
    async with httpx.AsyncClient(transport=transport, base_url="http://status-reporter") as client:
        served = Served(function, client, github, admin, config, reporter_store, teams)
        yield served
    served.function.stop()  # the one serving last (``restart``)
