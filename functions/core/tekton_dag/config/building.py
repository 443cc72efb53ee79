"""Turning valid documents into the frozen model (``models.py``).

Only called on documents that passed their schema and checks, so values have the right
shapes here. Sub-mappings (``tests``, extra ``build`` keys, ``defaults``) are shared with
``Stack.document``, not copied: treat them as read-only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tekton_dag.config.models import (
    App,
    AppVersion,
    Build,
    CommandSettings,
    GitHubReporting,
    PipelineRunSettings,
    Propagation,
    PullRequestFilters,
    Retention,
    Stack,
    Team,
    WebhookSettings,
)

_BUILD_FIELDS = ("tool", "build-command", "runtime")
_EMPTY: Mapping[str, Any] = {}  # shared by every app without extras: one object, not 40,000


# What a team is built from, once valid: its team.yaml document and file, each stack's document
# and file, and the versions.yaml document (or None). Only plain data, so a snapshot can hold it.
TeamDocuments = tuple[Mapping[str, Any], str, Sequence[tuple[Mapping[str, Any], str]], Mapping[str, Any] | None]


def team_from_documents(documents: TeamDocuments) -> Team:
    """The ``Team`` of valid documents: the one way a load (or a snapshot of one) builds a team."""
    team, source, stacks, versions = documents
    return build_team(team, [build_stack(d, s) for d, s in stacks], build_versions(versions), source)


def build_stack(document: Mapping[str, Any], source: str) -> Stack:
    defaults = document.get("defaults") or {}
    builds: dict[tuple[Any, ...], Build] = {}
    apps = tuple(build_app(app, defaults, builds) for app in document["apps"])
    propagation = document.get("propagation") or {}
    return Stack(
        name=document["name"],
        apps=apps,
        description=document.get("description", ""),
        propagation=Propagation(
            **_present(propagation, {"header-name": "header_name", "baggage-key": "baggage_key",
                                     "strategy": "strategy"})
        ),
        defaults=defaults,
        source=source,
        document=document,
    )


def build_app(app: Mapping[str, Any], defaults: Mapping[str, Any],
              builds: dict[tuple[Any, ...], Build] | None = None) -> App:
    # Positional arguments in the models' field order (tests/config/test_loading.py checks the
    # result field by field): 40,000 apps, and keyword arguments were 40% of constructing them.
    get = app.get
    downstream = tuple(get("downstream") or ())
    port = get("container-port", defaults.get("container-port"))
    return App(
        app["name"],
        app["repo"],
        app["role"],
        _build(app["build"], builds),
        get("propagation-role") or infer_propagation_role(app["role"], downstream),
        get("context-dir", "."),
        get("dockerfile", "Dockerfile"),
        downstream,
        get("tests") or _EMPTY,
        None if port is None else int(port),
    )


def _build(build: Mapping[str, Any], builds: dict[tuple[Any, ...], Build] | None) -> Build:
    """The ``Build`` of a ``build`` mapping; equal mappings of one stack share one (frozen) object,
    as most apps of a stack build with one of a few tools the same way."""
    key = tuple(build.items())
    try:
        found = None if builds is None else builds.get(key)
    except TypeError:  # a mapping value (env, legacy): not hashable, built on its own
        builds = None
        found = None
    if found is None:
        found = Build(
            build["tool"],
            build.get("build-command"),
            build.get("runtime"),
            {k: v for k, v in build.items() if k not in _BUILD_FIELDS} if len(build) > 1 else _EMPTY,
        )
        if builds is not None:
            builds[key] = found
    return found


def infer_propagation_role(role: str, downstream: Sequence[str]) -> str:
    """The earlier system's rule when ``propagation-role`` is absent."""
    if not downstream:
        return "terminal"
    return "originator" if role == "frontend" else "forwarder"


def build_versions(document: Mapping[str, Any] | None) -> dict[str, AppVersion]:
    apps = (document or {}).get("apps") or {}
    return {
        name: AppVersion(**_present(entry, {"version": "version", "last-released": "last_released"}))
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
        webhook=WebhookSettings(secret_name=webhook.get("secretName"), secret_env=webhook.get("secretEnv")),
        pull_requests=PullRequestFilters(
            base_branches=tuple(pulls.get("baseBranches") or ()),
            **_present(pulls, {"skipDrafts": "skip_drafts", "forks": "forks"}),
        ),
        commands=CommandSettings(users=tuple((get("commands") or {}).get("users") or ())),
        pipeline_runs=build_pipeline_runs(get("pipelineRuns") or {}),
        retention=build_retention(get("retention") or {}),
        github=GitHubReporting(**_present(get("github") or {}, {"checks": "checks", "detailsUrl": "details_url"})),
        versions=versions,
        source=source,
        **_present(document, _TEAM_FIELDS),
    )


# team.yaml key -> Team field, for the plain values (the nested ones are built above).
_TEAM_FIELDS = {
    "cluster": "cluster",
    "imageRegistry": "image_registry",
    "cacheRepo": "cache_repo",
    "interceptBackend": "intercept_backend",
    "maxConcurrentRuns": "max_concurrent_runs",
    "maxParallelBuilds": "max_parallel_builds",
    "sharedNamespace": "shared_namespace",
    "push": "push",
}


def _present(document: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments for the keys ``document`` has: the model's defaults fill the rest."""
    return {field: document[key] for key, field in fields.items() if key in document}


def build_pipeline_runs(settings: Mapping[str, Any]) -> PipelineRunSettings:
    timeouts = settings.get("timeouts") or {}
    return PipelineRunSettings(
        **_present(settings, {
            "serviceAccount": "service_account",
            "gitCredentialsSecret": "git_credentials_secret",
            "githubTokenSecret": "github_token_secret",
            "buildCacheClaim": "build_cache_claim",
            "workspaceSize": "workspace_size",
            "storageClass": "storage_class",
            "fsGroup": "fs_group",
            "coschedule": "coschedule",
            "stepResources": "step_resources",
        }),
        **_present(timeouts, {"pipeline": "timeout_pipeline", "tasks": "timeout_tasks", "finally": "timeout_finally"}),
    )


def build_retention(settings: Mapping[str, Any]) -> Retention:
    max_age = settings.get("maxAge")
    return Retention(
        keep_last=settings.get("keepLast"),
        max_age_seconds=None if max_age is None else go_duration_seconds(max_age),
    )


_GO_UNIT_NS = {"h": 3_600_000_000_000, "m": 60_000_000_000, "s": 1_000_000_000, "ms": 1_000_000}
_GO_PART = re.compile(r"([0-9]+)(?:\.([0-9]+))?(ms|h|m|s)")
GO_DURATION_MAX = "2562047h47m16.854775807s"  # time.Duration's largest: 2**63 - 1 nanoseconds


def is_go_duration(text: str) -> bool:
    """Whether ``text`` is a duration as the schema's ``duration`` pattern admits it."""
    return bool(text) and _GO_PART.sub("", text) == ""


def go_duration_nanoseconds(text: str) -> int | None:
    """The nanoseconds Go's ``time.ParseDuration`` reads in a duration the schema admits, or None
    where it answers "time: invalid duration": a ``time.Duration`` is an int64 of nanoseconds, so
    anything above 2**63 - 1 (``GO_DURATION_MAX``) is refused, and Tekton's webhook refuses every
    PipelineRun that carries one. Step by step as golang/go src/time/format.go ``ParseDuration``
    does it: each number's whole part at most 2**63 (``leadingInt``), times its unit at most 2**63,
    the fraction's digits taken while they fit (``leadingFraction``) and added as float64
    ``f * (unit / scale)`` truncated, the running sum at most 2**63, the total at most 2**63 - 1."""
    limit = 1 << 63
    total = 0
    for whole, fraction, unit in _GO_PART.findall(text):
        digits = whole.lstrip("0")
        if len(digits) > 19 or int(digits or "0") > limit:  # 20 digits are more than 2**63; int() has a digit cap
            return None
        scale = _GO_UNIT_NS[unit]
        value = int(digits or "0")
        if value > limit // scale:
            return None
        value *= scale
        numerator, denominator = _go_fraction(fraction)
        if numerator > 0:
            value += int(float(numerator) * (float(scale) / denominator))
            if value > limit:
                return None
        total += value
        if total > limit:
            return None
    return total if total < limit else None


def _go_fraction(digits: str) -> tuple[int, float]:
    """``leadingFraction``: the fraction's digits as an integer and its float64 scale, digits that
    would overflow dropped (precision stops accumulating; no error)."""
    value, scale = 0, 1.0
    for digit in digits:
        if value > ((1 << 63) - 1) // 10:
            break
        following = value * 10 + int(digit)
        if following > 1 << 63:
            break
        value, scale = following, scale * 10
    return value, scale


def go_duration_seconds(text: str) -> float:
    """Seconds in a Go duration as the schema admits it (``168h``, ``1h30m``, ``90s``) and Go can hold
    (``go_duration_nanoseconds``; checked by ``checks.duration_problems`` before anything builds)."""
    return (go_duration_nanoseconds(text) or 0) / 1e9
