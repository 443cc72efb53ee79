"""THE PipelineRun builder: one function for ``stack-pr-test``, ``stack-merge-release`` and
``stack-bootstrap``, following ``tekton_dag.pipelines`` (the contract with ``pipeline/*.yaml``).

Everything a team could want to change comes from its config (``Team`` and its
``PipelineRunSettings``); the request only says what to run. The output is a plain dict, ready
for the Kubernetes API or ``kubectl create -f``; see ``docs/run-creator.md``.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tekton_dag import pipelines
from tekton_dag.config.models import Stack, Team
from tekton_dag.pipelineruns.naming import label_value, run_name

if TYPE_CHECKING:  # annotations only: a function that only names runs need not make the requests' dataclasses
    from tekton_dag.events.requests import RunRequest

API_VERSION = "tekton.dev/v1"
KIND = "PipelineRun"
# Each run's shared-workspace is a volumeClaimTemplate: a claim of the team's workspaceSize per run.
# Under coschedule `workspaces` (Tekton's default) Tekton deletes it when the run is done only if
# the run carries this annotation set to "true"; else it stays bound until the PipelineRun is
# deleted (tektoncd/pipeline pkg/reconciler/pipelinerun/affinity_assistant.go,
# AutoCleanupPVCAnnotation, v1.11+; docs/affinityassistants.md "PVC Auto-Cleanup for Workspaces
# Mode"). The other modes delete it anyway; older releases ignore the annotation.
AUTO_CLEANUP_PVC = "tekton.dev/auto-cleanup-pvc"


class BuildError(ValueError):
    """The request cannot become a PipelineRun of this team and stack (a permanent error)."""


def build_pipelinerun(
    request: RunRequest, team: Team, stack: Stack, *, traceparent: str | None = None, again: str = ""
) -> dict[str, Any]:
    """The PipelineRun for ``request`` in ``team``'s namespace (not pending: admission decides);
    ``again``: ``naming.run_name``'s."""
    _check(request, team, stack)
    name = run_name(request, again)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": team.namespace,
            "labels": _labels(request),
            "annotations": _annotations(request, traceparent),
        },
        "spec": {
            "pipelineRef": {"name": request.pipeline},
            "params": _params(request, team, stack, name),
            "workspaces": _workspaces(team),
            "taskRunTemplate": {
                "serviceAccountName": team.pipeline_runs.service_account,
                "podTemplate": {
                    "securityContext": {"fsGroup": team.pipeline_runs.fs_group, "runAsNonRoot": True},
                    # Closed by default: only API_TASKS get a token (see _task_run_specs).
                    "automountServiceAccountToken": False,
                },
            },
            "taskRunSpecs": _task_run_specs(request.pipeline, team),
            "timeouts": {
                "pipeline": team.pipeline_runs.timeout_pipeline,
                "tasks": team.pipeline_runs.timeout_tasks,
                "finally": team.pipeline_runs.timeout_finally,
            },
        },
    }


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: equal content, equal text (and equal golden files)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _TextsByIdentity:
    """The JSON text of a configuration mapping, made once per mapping and kept by its identity.

    Every run of a stack carries the stack's whole document and the team's versions as JSON
    (9.4 KB for a stack of 40 apps: ~125 µs of ``json.dumps`` per request here, more than the
    rest of the build). A loaded configuration never changes (config/models.py), so the same
    object always gives the same text; a reload makes new objects for a changed team (a reused
    team keeps its objects, and their texts). Each entry holds its object, so that object's id
    cannot be reused by another while the entry lives; the least recently used go first.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[object, str]] = OrderedDict()
        self._lock = threading.Lock()  # the functions build on their loop; a library caller may use threads

    def text(self, value: object, make: Callable[[], str]) -> str:
        with self._lock:
            entry = self._entries.get(id(value))
            if entry is not None and entry[0] is value:
                self._entries.move_to_end(id(value))
                return entry[1]
        text = make()
        with self._lock:
            self._entries[id(value)] = (value, text)
            self._entries.move_to_end(id(value))
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return text

    def __len__(self) -> int:
        return len(self._entries)


# Stacks and teams that receive requests; at most ~2.5 MB for stacks of 40 apps.
_TEXTS = _TextsByIdentity(256)


def _check(request: RunRequest, team: Team, stack: Stack) -> None:
    if request.team != team.name or request.stack != stack.name:
        raise BuildError(f"request is for {request.team}/{request.stack}, not {team.name}/{stack.name}")
    if request.pipeline in (pipelines.PR_TEST, pipelines.MERGE_RELEASE) and not request.app:
        raise BuildError(f"app: required for {request.pipeline}")
    if request.pipeline == pipelines.PR_TEST and request.pr is None:
        raise BuildError(f"pr: required for {pipelines.PR_TEST}")
    for app in (request.app, *request.build_apps):
        if app and stack.app(app) is None:
            raise BuildError(f"app {app!r} is not in stack {stack.name!r} ({stack.source or 'config'})")


def _labels(request: RunRequest) -> dict[str, str]:
    labels = {
        pipelines.L_MANAGED_BY: pipelines.MANAGED_BY,
        pipelines.L_TEAM: label_value(request.team),
        pipelines.L_STACK: label_value(request.stack),
        pipelines.L_PIPELINE: request.pipeline,
        pipelines.L_PRIORITY: str(pipelines.PRIORITY[request.pipeline]),
    }
    if request.app:
        labels[pipelines.L_APP] = label_value(request.app)
    if request.merge_group:
        # Not a PR's run: no PR label, so neither a PR's new head nor its closing cancels it.
        labels[pipelines.L_MERGE_GROUP] = label_value(request.merge_group)
    elif request.pr is not None:
        labels[pipelines.L_PR] = str(request.pr.number)
    return labels


def _annotations(request: RunRequest, traceparent: str | None) -> dict[str, str]:
    annotations = {pipelines.A_DELIVERY: request.delivery, AUTO_CLEANUP_PVC: "true"}
    if request.pr is not None:
        annotations[pipelines.A_HEAD_SHA] = request.pr.head_sha
    if request.installation_id:
        annotations[pipelines.A_GITHUB_INSTALLATION] = str(request.installation_id)
    if traceparent:
        annotations[pipelines.A_TRACEPARENT] = traceparent
    return annotations


def _params(request: RunRequest, team: Team, stack: Stack, name: str) -> list[dict[str, str]]:
    values = {
        pipelines.P_TEAM: team.name,
        pipelines.P_STACK: stack.name,
        pipelines.P_STACK_JSON: _TEXTS.text(stack.document, lambda: canonical_json(dict(stack.document))),
        pipelines.P_VERSIONS_JSON: _TEXTS.text(team.versions, lambda: canonical_json(_versions(team))),
        pipelines.P_CHANGED_APP: request.app,
        # Empty build_apps means the pipeline's default: the changed app, or (bootstrap) all apps.
        pipelines.P_BUILD_APPS: ",".join(request.build_apps) or request.app,
        pipelines.P_APP_REVISIONS: canonical_json(
            {request.app: request.revision} if request.app and request.revision else {}
        ),
        pipelines.P_IMAGE_REGISTRY: team.image_registry,
        pipelines.P_CACHE_REPO: team.cache_repo or "",
        # The run name is unique per request: a snapshot tag that never overwrites another run's images.
        pipelines.P_IMAGE_TAG: request.image_tag or name,
        pipelines.P_MAX_PARALLEL_BUILDS: str(team.max_parallel_builds),
        pipelines.P_INSECURE_REGISTRY: _insecure(
            team.image_registry, os.environ.get(pipelines.INSECURE_REGISTRIES_ENV, "")),
    }
    if request.pipeline == pipelines.PR_TEST:
        assert request.pr is not None  # checked in _check
        values |= {
            pipelines.P_PR_NUMBER: str(request.pr.number),
            pipelines.P_PR_REPO: request.repo,
            pipelines.P_INTERCEPT_BACKEND: team.intercept_backend,
            pipelines.P_GITHUB_TOKEN_SECRET: team.pipeline_runs.github_token_secret,
            pipelines.P_POST_RESULT_COMMENT: "false" if team.github.checks else "true",
        }
    return [{"name": param, "value": values[param]} for param in pipelines.PARAMS[request.pipeline]]


@functools.lru_cache(maxsize=1024)
def _insecure(image_registry: str, listed: str) -> str:
    """"true" for a registry the registry client asks over plain HTTP (``pipelines.insecure_registry_host``
    with the operator's ``listed`` hosts, read per request like the client reads them), so what
    bootstrap-batcher finds over http is pushed over http."""
    host, _ = pipelines.registry_host_and_path(image_registry)
    plain = bool(host) and pipelines.insecure_registry_host(host, pipelines.listed_insecure_hosts(listed))
    return "true" if plain else "false"


def _versions(team: Team) -> dict[str, dict[str, str]]:
    return {app: {"version": v.version, "last-released": v.last_released} for app, v in team.versions.items()}


def _task_run_specs(pipeline: str, team: Team) -> list[dict[str, Any]]:
    """One entry per pipeline task that differs from taskRunTemplate (Tekton lets the last of two
    entries for a task win): a token for the tasks that call the API, the team's step resources."""
    steps: dict[str, list[dict[str, Any]]] = {}
    for key, resources in sorted(team.pipeline_runs.step_resources.items()):
        task, step = key.split("/", 1)
        steps.setdefault(task, []).append({"name": step, "computeResources": dict(resources)})
    specs: list[dict[str, Any]] = []
    for task in pipelines.PIPELINE_TASKS[pipeline]:  # never a task the Pipeline lacks: Tekton fails the run
        spec: dict[str, Any] = {"pipelineTaskName": task}
        if task in pipelines.API_TASKS:
            spec["podTemplate"] = {"automountServiceAccountToken": True}
        if task in steps:
            spec["stepSpecs"] = steps[task]
        if len(spec) > 1:
            specs.append(spec)
    return specs


def _workspaces(team: Team) -> list[dict[str, Any]]:
    settings = team.pipeline_runs
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": settings.workspace_size}},
    }
    if settings.storage_class:
        claim_spec["storageClassName"] = settings.storage_class
    bindings: list[dict[str, Any]] = [
        {"name": pipelines.W_SHARED, "volumeClaimTemplate": {"spec": claim_spec}},
        {"name": pipelines.W_GIT_CREDENTIALS, "secret": {"secretName": settings.git_credentials_secret}},
    ]
    # Under Tekton's default `coschedule: workspaces` a TaskRun binding two PVCs fails ("more than
    # one PersistentVolumeClaim is bound"): the tasks then keep their caches in the run's volume.
    if settings.coschedule != "workspaces":
        bindings.append({"name": pipelines.W_BUILD_CACHE,
                         "persistentVolumeClaim": {"claimName": settings.build_cache_claim}})
    return bindings
