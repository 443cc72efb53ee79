"""A release installed before any team (the chart's defaults: an empty team ConfigMap) is Ready,
and webhook-ingest tells every webhook that no team is configured; nothing is published."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from support.clirun import REPO
from tekton_dag.functions import bootstrap_batcher, resolver, run_creator
from tekton_dag.functions.configs import NO_TEAM, ConfigSource
from tekton_dag.testing.github import delivery, environment
from tekton_dag.testing.recorder import EventRecorder

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


def configmap_mount(root: Path) -> Path:
    """What kubelet mounts for a ConfigMap with no data: only its hidden bookkeeping entries."""
    (root / "..2026_11_30_00_00_00.000000001").mkdir(parents=True)
    os.symlink("..2026_11_30_00_00_00.000000001", root / "..data")
    return root


@pytest.fixture
def empty_teams(tmp_path: Path) -> Path:
    return configmap_mount(tmp_path / "empty-teams")


async def test_ready_with_no_team(make_ingest: MakeClient, empty_teams: Path) -> None:
    ingest = await make_ingest(TEKTON_DAG_TEAMS_DIR=str(empty_teams))
    assert (await ingest.get("/readyz")).json() == {"status": "ready"}
    assert (await ingest.get("/health/readiness")).status_code == 200  # func-python's probe (the chart's)


@pytest.mark.parametrize("secret", ["shared-secret-for-tests", "not-the-secret"])
async def test_every_webhook_is_ignored_saying_no_team_is_configured(
    make_ingest: MakeClient, empty_teams: Path, broker: EventRecorder, secret: str,
) -> None:
    ingest = await make_ingest(TEKTON_DAG_TEAMS_DIR=str(empty_teams))
    for event in ("ping", "pull_request.opened", "push.branch"):
        headers, body = delivery(event, secret=secret)
        response = await ingest.post("/webhook/github", headers=headers, content=body)
        assert response.status_code == 202, response.text
        assert response.json() == {"status": "ignored", "delivery": headers["X-GitHub-Delivery"], "reason": NO_TEAM}
    assert broker.headers == []


async def test_a_team_added_later_is_served(empty_teams: Path) -> None:
    """The chart upgrade that adds the team's files swaps the ConfigMap: the no-team state ends."""
    from tekton_dag.testing.github import write_teams

    source = ConfigSource(str(empty_teams), reload_interval=0)
    assert source.no_team() and source.current() is not None
    write_teams(empty_teams)
    source.store.refresh()
    assert not source.no_team() and source.current().teams


def test_a_missing_folder_is_still_not_a_configuration(tmp_path: Path) -> None:
    source = ConfigSource(str(tmp_path / "missing"), reload_interval=0)
    assert source.current() is None and not source.no_team()


async def test_every_function_is_ready_with_no_team(empty_teams: Path) -> None:
    env = environment(empty_teams, TEKTON_DAG_RECONCILE_SECONDS="0")
    functions = [resolver.new(), run_creator.new(), bootstrap_batcher.new()]
    try:
        for function in functions:
            function.start(env)
            assert function.ready()[0], f"{type(function).__name__}: {function.ready()[1]}"
    finally:
        for function in functions:
            stop = function.stop()
            if asyncio.iscoroutine(stop):
                await stop


def test_the_reason_points_to_pages_that_exist() -> None:
    """Every webhook of a release without a team carries this reason: the page it names must be there."""
    pages = re.findall(r"docs/[\w.-]+\.md", NO_TEAM)
    assert pages and all((REPO / page).is_file() for page in pages), pages
