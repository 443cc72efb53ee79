"""The GitHub App installation travels from the webhook to the PipelineRun, where status-reporter
reads it (``Repo.installation_id``: which installation's token acts on the repository)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from runcreator.conftest import pr_request
from statusreporter.conftest import teams_with_checks
from tekton_dag import pipelines, resolution
from tekton_dag.checks.targets import target_of_run
from tekton_dag.config.index import ResolverIndex
from tekton_dag.config.loading import load_config_or_raise
from tekton_dag.events.github import GitHubEvent, parse_payload
from tekton_dag.events.requests import RequestError, RunRequest
from tekton_dag.pipelineruns.building import build_pipelinerun
from tekton_dag.testing.github import fixture, write_teams


def test_a_webhook_from_an_app_carries_its_installation_to_the_pipelinerun(tmp_path: Path) -> None:
    config = load_config_or_raise(write_teams(tmp_path / "teams"))
    headers, payload = fixture("pull_request.opened")  # GitHub's own example delivery
    event = parse_payload("pull_request", headers["X-GitHub-Delivery"], payload)
    assert event.installation_id == payload["installation"]["id"]
    event = GitHubEvent.from_data(event.cloudevent_type, event.delivery, event.to_data())  # over the Broker
    decisions = resolution.resolve(event, ResolverIndex.from_config(config))
    requests = [d.outcome for d in decisions if isinstance(d.outcome, RunRequest)]
    assert requests and all(r.installation_id == payload["installation"]["id"] for r in requests)
    request = RunRequest.from_data(requests[0].to_data(), strict=False)  # over the Broker again
    team = config.team(request.team)
    assert team is not None
    run = build_pipelinerun(request, team, team.stack(request.stack))  # type: ignore[arg-type]
    assert run["metadata"]["annotations"][pipelines.A_GITHUB_INSTALLATION] == str(payload["installation"]["id"])


def test_a_repositorys_own_webhook_has_no_installation(tmp_path: Path) -> None:
    headers, payload = fixture("pull_request.opened")
    del payload["installation"]
    event = parse_payload("pull_request", headers["X-GitHub-Delivery"], payload)
    assert event.installation_id == 0 and "installation_id" not in event.to_data()


def test_the_rest_api_cannot_choose_an_installation(tmp_path: Path) -> None:
    config = load_config_or_raise(write_teams(tmp_path / "teams"))
    team = config.teams[0]
    body = {"team": team.name, "stack": team.stacks[0].name, "app": team.stacks[0].apps[0].name,
            "installation_id": 1}
    with pytest.raises(RequestError, match="installation_id"):
        resolution.manual_run(config, body, "api-1")


def test_status_reporter_reads_the_installation_annotation(tmp_path: Path) -> None:
    config = load_config_or_raise(teams_with_checks(tmp_path / "teams"))
    team = config.team("default")
    assert team is not None
    request = dataclasses.replace(pr_request(), installation_id=4242)
    run = build_pipelinerun(request, team, team.stack("stack-one"))  # type: ignore[arg-type]
    assert target_of_run(config, run).installation_id == 4242  # type: ignore[union-attr]
