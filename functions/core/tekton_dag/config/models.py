"""The configuration model: what a team, a stack and an app are once loaded and validated.

Every object here is frozen: a loaded configuration is a value that can be swapped atomically
by the reloader and shared across asyncio tasks without locks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

BuildTool = Literal["npm", "maven", "gradle", "pip", "composer"]
InterceptBackend = Literal["telepresence", "mirrord"]
ForkPolicy = Literal["allow", "skip"]
PushPolicy = Literal["ignore", "merge-release"]

DEFAULT_TEAM = "default"


@dataclass(frozen=True, slots=True)
class Build:
    tool: BuildTool
    build_command: str | None = None
    runtime: str | None = None
    # Other keys of the `build` mapping (`node-version`, `env`, ...), kept verbatim for the tasks.
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class App:
    name: str
    repo: str  # "owner/name" exactly as written in the stack file
    role: str
    build: Build
    propagation_role: str | None = None
    context_dir: str = "."
    dockerfile: str = "Dockerfile"
    downstream: tuple[str, ...] = ()
    tests: Mapping[str, Any] = field(default_factory=dict)
    container_port: int | None = None


@dataclass(frozen=True, slots=True)
class Propagation:
    header_name: str = "x-dev-session"
    baggage_key: str = "dev-session"
    strategy: str = "w3c-baggage"


@dataclass(frozen=True, slots=True)
class Stack:
    name: str
    apps: tuple[App, ...]
    description: str = ""
    propagation: Propagation = field(default_factory=Propagation)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""  # path of the stack file, relative to the teams root's parent, for messages
    # The stack file's content as loaded: what the pipelines receive as `stack-json`.
    document: Mapping[str, Any] = field(default_factory=dict)

    def app(self, name: str) -> App | None:
        return next((a for a in self.apps if a.name == name), None)


@dataclass(frozen=True, slots=True)
class PullRequestFilters:
    base_branches: tuple[str, ...] = ()  # glob patterns; empty means every base branch
    skip_drafts: bool = True
    forks: ForkPolicy = "skip"


@dataclass(frozen=True, slots=True)
class CommandSettings:
    """team.yaml ``commands``: who may comment /retest, /test and /cancel besides repository writers."""

    users: tuple[str, ...] = ()  # GitHub logins, compared case-insensitively (GitHub's logins are)

    def allows(self, login: str) -> bool:
        return login.lower() in {user.lower() for user in self.users}


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    # Name of the Kubernetes Secret (key `secret`) holding this team's own webhook secret(s),
    # and the environment variable that carries it when the functions run outside a cluster.
    secret_name: str | None = None
    secret_env: str | None = None


@dataclass(frozen=True, slots=True)
class PipelineRunSettings:
    """Everything a PipelineRun needs from the team that a team may want to change."""

    service_account: str = "tekton-dag-pipeline"
    git_credentials_secret: str = "tekton-dag-git-credentials"
    github_token_secret: str = "tekton-dag-github-token"
    build_cache_claim: str = "tekton-dag-build-cache"
    workspace_size: str = "5Gi"
    storage_class: str | None = None
    fs_group: int = 65532
    timeout_pipeline: str = "1h0m0s"
    timeout_tasks: str = "50m0s"
    timeout_finally: str = "10m0s"
    # The cluster's Tekton `coschedule` flag: under "workspaces" a TaskRun may bind one PVC only.
    coschedule: str = "workspaces"
    # "<task>/<step>" -> {"requests": {...}, "limits": {...}}: PipelineRun taskRunSpecs[].stepSpecs.
    step_resources: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Retention:
    """Which finished PipelineRuns of the team run-creator deletes (``retention`` in team.yaml).

    A finished run is deleted when it is older than the newest ``keep_last`` finished runs of
    its pipeline and stack, or when it finished more than ``max_age_seconds`` ago; None turns
    a rule off, and with both off (the default) nothing is deleted."""

    keep_last: int | None = None
    max_age_seconds: float | None = None

    @property
    def enabled(self) -> bool:
        return self.keep_last is not None or self.max_age_seconds is not None


@dataclass(frozen=True, slots=True)
class GitHubReporting:
    """How status-reporter reports the team's pull-request runs (``github`` in team.yaml)."""

    checks: bool = False  # a check run per run (commit statuses with a token); off: nothing reported
    details_url: str | None = None  # template with {namespace} and {name} of the PipelineRun

    def details_link(self, namespace: str, name: str) -> str | None:
        """``details_url`` with ``{namespace}`` and ``{name}`` filled in (plain replacement: any
        other brace is the URL's own), or None when the team sets none."""
        return fill_details_url(self.details_url, namespace, name) if self.details_url else None


def fill_details_url(template: str, namespace: str, name: str) -> str:
    """The one way a ``github.detailsUrl`` template is filled: validation checks what it gives."""
    return template.replace("{namespace}", namespace).replace("{name}", name)


@dataclass(frozen=True, slots=True)
class AppVersion:
    version: str = "0.1.0-rc.0"
    last_released: str = "0.0.0"


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    namespace: str
    stacks: tuple[Stack, ...]
    cluster: str = "in-cluster"
    image_registry: str = "localhost:5000"
    cache_repo: str | None = None
    intercept_backend: InterceptBackend = "telepresence"
    max_concurrent_runs: int = 3
    max_parallel_builds: int = 5
    shared_namespace: bool = False
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    pull_requests: PullRequestFilters = field(default_factory=PullRequestFilters)
    push: PushPolicy = "ignore"
    commands: CommandSettings = field(default_factory=CommandSettings)
    pipeline_runs: PipelineRunSettings = field(default_factory=PipelineRunSettings)
    retention: Retention = field(default_factory=Retention)
    github: GitHubReporting = field(default_factory=GitHubReporting)
    versions: Mapping[str, AppVersion] = field(default_factory=dict)
    source: str = ""  # path of team.yaml (or stacks/registry.yaml for the fallback team)

    def stack(self, name: str) -> Stack | None:
        return next((s for s in self.stacks if s.name == name), None)

    def version_of(self, app: str) -> AppVersion:
        return self.versions.get(app, AppVersion())


@dataclass(frozen=True, slots=True)
class Config:
    teams: tuple[Team, ...]
    root: str = ""  # the teams directory this was loaded from

    def team(self, name: str) -> Team | None:
        return next((t for t in self.teams if t.name == name), None)
