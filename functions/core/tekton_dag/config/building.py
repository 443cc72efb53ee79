"""Turning valid documents into the frozen model (``models.py``).

Only called on documents that passed their schema and checks, so values have the right
shapes here. Sub-mappings (``tests``, extra ``build`` keys, ``defaults``) are shared with
``Stack.document``, not copied: treat them as read-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tekton_dag.config.models import (
    App,
    AppVersion,
    Build,
    PipelineRunSettings,
    Propagation,
    PullRequestFilters,
    Stack,
    Team,
    WebhookSettings,
)

_BUILD_FIELDS = ("tool", "build-command", "runtime")


def build_stack(document: Mapping[str, Any], source: str) -> Stack:
    defaults = document.get("defaults") or {}
    apps = tuple(build_app(app, defaults) for app in document["apps"])
    propagation = document.get("propagation") or {}
    return Stack(
        name=document["name"],
        apps=apps,
        description=document.get("description", ""),
        propagation=Propagation(
            header_name=propagation.get("header-name", Propagation.header_name),
            baggage_key=propagation.get("baggage-key", Propagation.baggage_key),
            strategy=propagation.get("strategy", Propagation.strategy),
        ),
        defaults=defaults,
        source=source,
        document=document,
    )


def build_app(app: Mapping[str, Any], defaults: Mapping[str, Any]) -> App:
    build = app["build"]
    downstream = tuple(app.get("downstream") or ())
    port = app.get("container-port", defaults.get("container-port"))
    return App(
        name=app["name"],
        repo=app["repo"],
        role=app["role"],
        build=Build(
            tool=build["tool"],
            build_command=build.get("build-command"),
            runtime=build.get("runtime"),
            extra={k: v for k, v in build.items() if k not in _BUILD_FIELDS},
        ),
        propagation_role=app.get("propagation-role") or infer_propagation_role(app["role"], downstream),
        context_dir=app.get("context-dir", "."),
        dockerfile=app.get("dockerfile", "Dockerfile"),
        downstream=downstream,
        tests=app.get("tests") or {},
        container_port=None if port is None else int(port),
    )


def infer_propagation_role(role: str, downstream: Sequence[str]) -> str:
    """The earlier system's rule when ``propagation-role`` is absent."""
    if not downstream:
        return "terminal"
    return "originator" if role == "frontend" else "forwarder"


def build_versions(document: Mapping[str, Any] | None) -> dict[str, AppVersion]:
    apps = (document or {}).get("apps") or {}
    return {
        name: AppVersion(
            version=str(entry.get("version", AppVersion.version)),
            last_released=str(entry.get("last-released", AppVersion.last_released)),
        )
        for name, entry in apps.items()
    }


def build_team(document: Mapping[str, Any], stacks: Sequence[Stack], versions: Mapping[str, AppVersion],
               source: str) -> Team:
    get = document.get
    webhook = get("webhook") or {}
    pulls = get("pullRequests") or {}
    return Team(
        name=document["name"],
        namespace=document["namespace"],
        stacks=tuple(stacks),
        cluster=get("cluster", Team.cluster),
        image_registry=get("imageRegistry", Team.image_registry),
        cache_repo=get("cacheRepo"),
        intercept_backend=get("interceptBackend", Team.intercept_backend),
        max_concurrent_runs=get("maxConcurrentRuns", Team.max_concurrent_runs),
        max_parallel_builds=get("maxParallelBuilds", Team.max_parallel_builds),
        shared_namespace=get("sharedNamespace", False),
        webhook=WebhookSettings(secret_name=webhook.get("secretName"), secret_env=webhook.get("secretEnv")),
        pull_requests=PullRequestFilters(
            base_branches=tuple(pulls.get("baseBranches") or ()),
            skip_drafts=pulls.get("skipDrafts", PullRequestFilters.skip_drafts),
            forks=pulls.get("forks", PullRequestFilters.forks),
        ),
        push=get("push", Team.push),
        pipeline_runs=build_pipeline_runs(get("pipelineRuns") or {}),
        versions=versions,
        source=source,
    )


def build_pipeline_runs(settings: Mapping[str, Any]) -> PipelineRunSettings:
    defaults = PipelineRunSettings()
    timeouts = settings.get("timeouts") or {}
    return PipelineRunSettings(
        service_account=settings.get("serviceAccount", defaults.service_account),
        git_credentials_secret=settings.get("gitCredentialsSecret", defaults.git_credentials_secret),
        github_token_secret=settings.get("githubTokenSecret", defaults.github_token_secret),
        build_cache_claim=settings.get("buildCacheClaim", defaults.build_cache_claim),
        workspace_size=settings.get("workspaceSize", defaults.workspace_size),
        storage_class=settings.get("storageClass", defaults.storage_class),
        fs_group=settings.get("fsGroup", defaults.fs_group),
        timeout_pipeline=timeouts.get("pipeline", defaults.timeout_pipeline),
        timeout_tasks=timeouts.get("tasks", defaults.timeout_tasks),
        timeout_finally=timeouts.get("finally", defaults.timeout_finally),
    )
