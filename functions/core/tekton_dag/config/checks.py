"""Checks that a JSON Schema cannot express: references between apps, stacks and teams.

They run on the parsed documents even when the schema found problems, so one run reports as
much as possible; each check skips values of the wrong shape (the schema reports those).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tekton_dag import pipelines
from tekton_dag.config import graph
from tekton_dag.config.building import GO_DURATION_MAX, go_duration_nanoseconds, go_duration_seconds, is_go_duration
from tekton_dag.config.errors import ConfigError, describe, format_path
from tekton_dag.config.models import PipelineRunSettings, fill_details_url
from tekton_dag.syntax import http_url_problem, quantity


@dataclass(frozen=True)
class StackFile:
    """A parsed stack document and where it came from."""

    shown_as: str  # file name in messages
    document: Any


def _apps(document: Any) -> list[tuple[int, dict[str, Any]]]:
    apps = document.get("apps") if isinstance(document, dict) else None
    if not isinstance(apps, list):
        return []
    return [(i, app) for i, app in enumerate(apps) if isinstance(app, dict)]


def _name(app: Mapping[str, Any]) -> str | None:
    name = app.get("name")
    return name if isinstance(name, str) else None


def stack_problems(stack: StackFile, valid: bool = False) -> Iterator[ConfigError]:
    """Duplicate app names, unknown downstream apps, one repo serving two apps, cycles.

    ``valid``: the document satisfies its schema, so a single pass can tell a stack without
    any of these problems (nearly every one) from one that needs the checks below to word them.
    """
    if valid and _valid_stack_is_sound(stack.document["apps"]):
        return
    apps = _apps(stack.document)
    yield from _duplicate_names(stack.shown_as, apps)
    yield from _unknown_downstream(stack.shown_as, apps)
    yield from _repo_used_twice(stack.shown_as, apps)
    yield from _cycles(stack.shown_as, apps)


def _valid_stack_is_sound(apps: list[dict[str, Any]]) -> bool:
    """No duplicate name or repo, no unknown downstream app, no cycle, in a schema-valid stack
    (every app a mapping with string ``name`` and ``repo``; ``downstream`` a list of strings)."""
    position = {app["name"]: i for i, app in enumerate(apps)}
    if len(position) < len(apps) or len({app["repo"].lower() for app in apps}) < len(apps):
        return False
    calls = [app.get("downstream") or () for app in apps]
    # Callers listed before their callees, as stacks are usually written: known apps, no cycle.
    later = position.get
    if all(i < later(callee, -1) for i, callees in enumerate(calls) for callee in callees):
        return True
    names = position.keys()
    return all(names >= set(callees) for callees in calls) and graph.is_acyclic(dict(zip(names, calls, strict=True)))


def _duplicate_names(shown_as: str, apps: list[tuple[int, dict[str, Any]]]) -> Iterator[ConfigError]:
    first: dict[str, int] = {}
    for i, app in apps:
        name = _name(app)
        if name is None:
            continue
        if name in first:
            yield ConfigError(shown_as, f"apps[{i}].name",
                              f"duplicate app name {describe(name)} (also apps[{first[name]}])")
        else:
            first[name] = i


def _unknown_downstream(shown_as: str, apps: list[tuple[int, dict[str, Any]]]) -> Iterator[ConfigError]:
    names = {name for _, app in apps if (name := _name(app)) is not None}
    for i, app in apps:
        downstream = app.get("downstream")
        if not isinstance(downstream, list):
            continue
        for j, callee in enumerate(downstream):
            if isinstance(callee, str) and callee not in names:
                yield ConfigError(shown_as, f"apps[{i}].downstream[{j}]", f"unknown app {describe(callee)}")


def _repo_used_twice(shown_as: str, apps: list[tuple[int, dict[str, Any]]]) -> Iterator[ConfigError]:
    """One repo -> two apps of one stack is ambiguous: a push could not say which app changed."""
    first: dict[str, tuple[int, str]] = {}
    for i, app in apps:
        repo = app.get("repo")
        if not isinstance(repo, str):
            continue
        key = repo.lower()
        if key in first:
            j, other = first[key]
            yield ConfigError(shown_as, f"apps[{i}].repo",
                              f"repo {describe(repo)} already serves app {describe(other)} (apps[{j}]) in this "
                              "stack; a repo may serve only one app per stack")
        else:
            first[key] = (i, _name(app) or f"apps[{i}]")


def _cycles(shown_as: str, apps: list[tuple[int, dict[str, Any]]]) -> Iterator[ConfigError]:
    adjacency: dict[str, list[str]] = {}
    position: dict[str, int] = {}
    for i, app in apps:
        name = _name(app)
        if name is None or name in adjacency:
            continue
        downstream = app.get("downstream")
        adjacency[name] = [c for c in downstream if isinstance(c, str)] if isinstance(downstream, list) else []
        position[name] = i
    for cycle in graph.find_cycles(adjacency):
        yield ConfigError(shown_as, f"apps[{position[cycle[0]]}].downstream",
                          f"dependency cycle: {' -> '.join(cycle)}")


def stack_name_problems(stacks: Sequence[StackFile], team: str) -> Iterator[ConfigError]:
    """Two stacks of one team with the same name."""
    first: dict[str, str] = {}
    for stack in stacks:
        name = stack.document.get("name") if isinstance(stack.document, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            yield ConfigError(stack.shown_as, "name",
                              f"team {describe(team)} already has a stack named {describe(name)} ({first[name]})")
        else:
            first[name] = stack.shown_as


def app_repo_problems(stacks: Sequence[StackFile], team: str) -> Iterator[ConfigError]:
    """Inside a team an app name means one repo: images (``<registry>/<app>``) and versions are
    keyed by app name, so two different repos under one name would overwrite each other."""
    if len(stacks) < 2:
        return  # only stacks that are not the app's first can conflict
    first: dict[str, tuple[str, str]] = {}
    for stack in stacks:
        for i, app in _apps(stack.document):
            name, repo = _name(app), app.get("repo")
            if name is None or not isinstance(repo, str):
                continue
            if name not in first:
                first[name] = (repo, stack.shown_as)
            elif first[name][1] != stack.shown_as and first[name][0].lower() != repo.lower():
                other_repo, other_file = first[name]
                yield ConfigError(stack.shown_as, f"apps[{i}].repo",
                                  f"app {describe(name)} is {describe(other_repo)} in {other_file}; one app name "
                                  f"must mean one repo within team {describe(team)}")


def version_problems(versions: Any, shown_as: str, stacks: Sequence[StackFile], team: str) -> Iterator[ConfigError]:
    """Versions of apps that no stack of the team defines (usually a typo or a removed app)."""
    apps = versions.get("apps") if isinstance(versions, dict) else None
    if not isinstance(apps, dict):
        return
    known = {name for stack in stacks for _, app in _apps(stack.document) if (name := _name(app))}
    for name in apps:
        if name not in known:
            yield ConfigError(shown_as, format_path(["apps", name]),
                              f"unknown app {describe(name)} (no stack of team {describe(team)} defines it)")


@dataclass(frozen=True)
class NamespaceClaim:
    team: str
    namespace: str
    shared: bool
    shown_as: str


def namespace_problems(claims: Sequence[NamespaceClaim]) -> Iterator[ConfigError]:
    """Two teams in one namespace would see each other's runs and limits: only when both agree."""
    by_namespace: dict[str, list[NamespaceClaim]] = {}
    for claim in claims:
        by_namespace.setdefault(claim.namespace, []).append(claim)
    for namespace, owners in by_namespace.items():
        if len(owners) < 2:
            continue
        for claim in owners:
            others = ", ".join(describe(o.team) for o in owners if o is not claim)
            if not claim.shared:
                yield ConfigError(claim.shown_as, "namespace",
                                  f"namespace {describe(namespace)} is also used by team(s) {others}; set "
                                  "sharedNamespace: true in every team that shares it")


_DEFAULT_RUNS = PipelineRunSettings()
_TIMEOUT_DEFAULTS = {"pipeline": _DEFAULT_RUNS.timeout_pipeline, "tasks": _DEFAULT_RUNS.timeout_tasks,
                     "finally": _DEFAULT_RUNS.timeout_finally}


def details_url_problems(document: Any, shown_as: str) -> Iterator[ConfigError]:
    """A ``github.detailsUrl`` that, filled in, is no http(s) URL with a host: GitHub refuses such a
    ``details_url`` (checks/create answers 422), so every check run of the team would fail to be
    made. The schema's pattern only sees the scheme; the one URL rule (``syntax``) sees the rest."""
    github = document.get("github") if isinstance(document, dict) else None
    template = github.get("detailsUrl") if isinstance(github, dict) else None
    if not isinstance(template, str) or not template.startswith(("http://", "https://")):
        return  # none, or what the schema reports
    problem = http_url_problem(fill_details_url(template, "team-namespace", "pipelinerun-name"))
    if problem:
        yield ConfigError(shown_as, "github.detailsUrl", f"{describe(template)} {problem} once "
                          "{namespace} and {name} are filled in (GitHub refuses such a details_url)")


def duration_problems(document: Any, shown_as: str) -> Iterator[ConfigError]:
    """Durations the schema's pattern admits but Go cannot hold: a ``time.Duration`` is an int64 of
    nanoseconds, so ``time.ParseDuration`` answers "invalid duration" above ``GO_DURATION_MAX``
    (about 292 years), and Tekton's webhook, decoding ``spec.timeouts``, refuses every PipelineRun
    of the team. ``retention.maxAge`` is held to the same rule: one kind of value, one reading."""
    runs = document.get("pipelineRuns") if isinstance(document, dict) else None
    timeouts = runs.get("timeouts") if isinstance(runs, dict) else None
    retention = document.get("retention") if isinstance(document, dict) else None
    found = [(f"pipelineRuns.timeouts.{key}", value) for key, value in
             (timeouts.items() if isinstance(timeouts, dict) else ())]
    if isinstance(retention, dict) and "maxAge" in retention:
        found.append(("retention.maxAge", retention["maxAge"]))
    for path, value in found:
        if isinstance(value, str) and is_go_duration(value) and go_duration_nanoseconds(value) is None:
            yield ConfigError(shown_as, path, f"{describe(value)} is longer than a Go duration can be (at most "
                              f"{GO_DURATION_MAX}): Tekton would refuse every PipelineRun (time: invalid duration)")


def timeout_problems(document: Any, shown_as: str) -> Iterator[ConfigError]:
    """Timeouts Tekton v1 would refuse on every PipelineRun of the team: the builder writes all
    three (the defaults for those not set), and tektoncd/pipeline's ``validatePipelineTimeout``
    (pkg/apis/pipeline/v1/pipelinerun_validation.go) wants ``tasks`` and ``finally`` each at most
    ``pipeline``, not 0 ("no timeout") while ``pipeline`` has one, and their sum at most ``pipeline``."""
    runs = document.get("pipelineRuns") if isinstance(document, dict) else None
    given = runs.get("timeouts") if isinstance(runs, dict) else None
    if not isinstance(given, dict) or not given or not all(
        isinstance(v, str) and is_go_duration(v) and go_duration_nanoseconds(v) is not None for v in given.values()
    ):
        return  # nothing set (the defaults nest), or a value the schema or duration_problems reports
    text = {key: given.get(key) or default for key, default in _TIMEOUT_DEFAULTS.items()}
    seconds = {key: go_duration_seconds(value) for key, value in text.items()}

    def said(key: str) -> str:
        return f"{key} {text[key]}" + ("" if key in given else " (the default)")

    limit = seconds["pipeline"]
    over = [key for key in ("tasks", "finally") if seconds[key] > limit or (seconds[key] == 0 and limit != 0)]
    messages = []
    if limit == 0 and over:
        messages.append(f"with {said('pipeline')} (no timeout), {' and '.join(said(k) for k in over)} must be 0 too")
    elif over:
        messages.append(f"{' and '.join(said(k) for k in over)} must be more than 0 and at most {said('pipeline')}")
    if limit != 0 and seconds["tasks"] + seconds["finally"] > limit:
        messages.append(f"{said('tasks')} + {said('finally')} must be at most {said('pipeline')}")
    for message in messages:
        yield ConfigError(shown_as, "pipelineRuns.timeouts", message + " (Tekton refuses the PipelineRun otherwise)")


def resource_problems(document: Any, shown_as: str) -> Iterator[ConfigError]:
    """Step resources and sizes with which every run of the team would fail on a cluster:

    - a ``stepResources`` key that names no step of tekton-dag's Tasks: Tekton fails the TaskRun
      ("invalid StepOverride: No Step named ...") or, for a task no Pipeline has, the override is
      never used;
    - a request above its limit once Tekton has merged the override over the Task's own
      computeResources (tektoncd/pipeline ``MergeStepsWithSpecs``, pkg/apis/pipeline/v1/merge.go:
      a strategic merge, key by key, so the Task's limit stays unless overridden): kube-apiserver
      refuses the Pod ("must be less than or equal to memory limit of 4Gi",
      ``ValidateResourceRequirements``) and Tekton fails the TaskRun ``PodCreationFailed``;
    - ``workspaceSize`` 0: kube-apiserver refuses the claim Tekton makes from the run's
      volumeClaimTemplate ("must be greater than zero", ``ValidatePersistentVolumeClaimSpec``)."""
    runs = document.get("pipelineRuns") if isinstance(document, dict) else None
    if not isinstance(runs, dict):
        return
    size = runs.get("workspaceSize")
    if isinstance(size, str) and quantity(size) == 0:
        yield ConfigError(shown_as, "pipelineRuns.workspaceSize", f"{describe(size)} must be more than 0 "
                          "(kube-apiserver refuses a PersistentVolumeClaim of size 0)")
    overrides = runs.get("stepResources")
    for key, override in (overrides.items() if isinstance(overrides, dict) else ()):
        task, slash, step = key.partition("/")
        if not (task and slash and step) or "/" in step:
            continue  # not <task>/<step>: the schema reports it
        where = format_path(("pipelineRuns", "stepResources", key))
        defaults = pipelines.STEP_RESOURCES.get(key)
        if defaults is None:
            steps = sorted(k for k in pipelines.STEP_RESOURCES if k.startswith(task + "/")) or sorted(
                pipelines.STEP_RESOURCES)
            yield ConfigError(shown_as, where, f"{describe(key)} names no step of tekton-dag's Tasks "
                              f"(Tekton would fail the TaskRun); the steps: {', '.join(steps)}")
        elif isinstance(override, dict):
            yield from _over_limit(shown_as, where, defaults, override)


def _over_limit(shown_as: str, where: str, defaults: Mapping[str, Mapping[str, str]],
                override: Mapping[str, Any]) -> Iterator[ConfigError]:
    given = {part: value if isinstance(value := override.get(part), dict) else {} for part in ("requests", "limits")}
    merged = {part: {**defaults.get(part, {}), **given[part]} for part in given}
    for name, limit in merged["limits"].items():
        request = merged["requests"].get(name)
        if not (isinstance(request, str) and isinstance(limit, str)):
            continue  # what the schema reports
        wanted, allowed = quantity(request), quantity(limit)
        if wanted is not None and allowed is not None and wanted > allowed:
            said = {part: f"{part}.{name} {value}" + ("" if name in given[part] else " (the Task's)")
                    for part, value in (("requests", request), ("limits", limit))}
            yield ConfigError(shown_as, where, f"{said['requests']} is more than {said['limits']}: "
                              "kube-apiserver refuses the step's Pod and Tekton fails the TaskRun")
