"""Which check a run reports to: its repository, head commit, stack and app, and whether the team wants it.

A PipelineRun carries everything (``pipelines``: the ``team``/``stack``/``changed-app``/``pr-repo``
params, the ``head-sha`` annotation, the check annotations status-reporter writes), so a Tekton event
or a run-creator outcome is enough to find its check. Only pull-request runs have a head to attach a
check to; other runs, teams without ``github.checks`` and repositories that are not one of the team's
apps get nothing (``target_of`` answers None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tekton_dag import pipelines
from tekton_dag.config.models import Config, Team
from tekton_dag.syntax import ascii_digits


@dataclass(frozen=True, slots=True)
class Target:
    team: Team
    namespace: str
    pipelinerun: str  # the check run's external_id
    stack: str
    app: str
    repo: str  # owner/name
    head_sha: str
    installation_id: int | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """What status-reporter wrote on the run: its check run id (None: none yet) and last status."""

    check_run_id: int | None
    status: str | None
    version: str | None  # metadata.resourceVersion read with it (the precondition of the next write)


def target_of_run(config: Config, run: Mapping[str, Any]) -> Target | None:
    """The check of PipelineRun ``run`` (v1 or v1beta1 form), or None when it gets none."""
    metadata = run.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    params = {p.get("name"): p.get("value") for p in (run.get("spec") or {}).get("params") or ()
              if isinstance(p, Mapping)}
    return target_of(
        config,
        team=str(params.get(pipelines.P_TEAM) or ""),
        namespace=str(metadata.get("namespace") or ""),
        pipelinerun=str(metadata.get("name") or ""),
        stack=str(params.get(pipelines.P_STACK) or ""),
        app=str(params.get(pipelines.P_CHANGED_APP) or ""),
        repo=str(params.get(pipelines.P_PR_REPO) or ""),
        head_sha=str(annotations.get(pipelines.A_HEAD_SHA) or ""),
        installation=str(annotations.get(pipelines.A_GITHUB_INSTALLATION) or ""),
    )


def target_of(config: Config, *, team: str, namespace: str, pipelinerun: str, stack: str, app: str, repo: str,
              head_sha: str, installation: str = "") -> Target | None:
    """A check target when the team is configured here with checks on and ``repo`` is one of its apps."""
    configured = config.team(team)
    if configured is None or not configured.github.checks or not (repo and head_sha and pipelinerun):
        return None
    if namespace and namespace != configured.namespace:
        return None  # a run in another namespace is not this team's, whatever its params say
    if not any(a.repo.lower() == repo.lower() for s in configured.stacks for a in s.apps):
        return None
    return Target(configured, configured.namespace, pipelinerun, stack, app, repo, head_sha,
                  int(installation) if ascii_digits(installation) else None)


def recorded_of(run: Mapping[str, Any]) -> Recorded:
    """The check annotations on ``run`` (a check run id that is not a number counts as none)."""
    metadata = run.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    raw_id = str(annotations.get(pipelines.A_CHECK_RUN_ID) or "")
    status = annotations.get(pipelines.A_CHECK_STATUS)
    return Recorded(int(raw_id) if ascii_digits(raw_id) else None, str(status) if status else None,
                    metadata.get("resourceVersion"))
