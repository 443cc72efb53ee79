"""The data of request events: ``run.requested``, ``run.cancel.requested``, ``bootstrap.requested``,
``command.requested``.

Producers build these objects and call ``to_data()``; consumers call ``from_data()``, which raises
``RequestError`` naming the bad field, so the consuming function can answer 400 (never retried).
Field names are snake_case, as in GitHub payloads.

Unknown fields: request bodies from people (the REST API) are strict, so a typo is an error. Between
functions, pass ``strict=False``: a producer one version ahead (a rolling update that adds a field)
must not make its events permanent failures, so unknown fields are ignored there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar

from tekton_dag import pipelines
from tekton_dag.events.errors import RequestError  # here too: where every request's consumer looks for it

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Request = TypeVar("_Request", bound="DataclassInstance")

# GitHub's PR numbers are int32 (its REST API and webhooks); anything larger could only be made up,
# and would not fit a label value. The schemas of github.pull_request and run.requested say the same.
MAX_PR_NUMBER = 2**31 - 1


@dataclass(frozen=True)
class PullRequestRef:
    number: int
    head_sha: str
    base_ref: str = ""
    head_ref: str = ""
    before_sha: str = ""  # a synchronize's ``before``: the head this one replaced (GitHub's order)


@dataclass(frozen=True)
class RunRequest:
    team: str
    stack: str
    pipeline: str  # one of pipelines.PIPELINES
    delivery: str  # X-GitHub-Delivery, or the id of the manual request
    app: str = ""  # the changed app; "" for bootstrap
    repo: str = ""  # owner/name of the changed app's repo
    revision: str = ""  # git revision of the changed app (head sha, merge commit sha)
    pr: PullRequestRef | None = None
    build_apps: tuple[str, ...] = ()  # empty: the pipeline's default (changed app, or all)
    image_tag: str = ""
    requested_by: str = "github"  # github | api | cli | bootstrap-batcher
    installation_id: int = 0  # the GitHub App installation of the webhook; 0: none
    # Set when GitHub asks for a run again (a Re-run button, /retest): the delivery id that asked,
    # part of the run's identity, so a re-run is a new PipelineRun and its redelivery is not.
    rerun: str = ""
    # Set for a merge queue's group: its head ref; ``revision`` and ``pr.head_sha`` are its head sha.
    merge_group: str = ""

    def to_data(self) -> dict[str, Any]:
        # Field by field rather than ``asdict`` (which deep-copies every value): every field is
        # immutable, and this runs once per request (``asdict`` was 1.6% of the all-in-one's CPU).
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["pr"] = {f.name: getattr(self.pr, f.name) for f in fields(self.pr)} if self.pr is not None else None
        data["build_apps"] = list(self.build_apps)
        if not self.installation_id:
            del data["installation_id"]  # only webhooks from a GitHub App have one
        for optional in ("rerun", "merge_group"):  # absent unless set: older consumers stay strict-compatible
            if not data[optional]:
                del data[optional]
        return data

    @classmethod
    def from_data(cls, data: Any, *, strict: bool = True) -> RunRequest:
        body = _mapping(data, "run.requested")
        _require(body, ("team", "stack", "pipeline", "delivery"))
        if body["pipeline"] not in pipelines.PIPELINES:
            raise RequestError(f"pipeline: must be one of {', '.join(pipelines.PIPELINES)}, got {body['pipeline']!r}")
        pr = body.get("pr")
        if pr is not None:
            pr_map = _mapping(pr, "pr")
            _require(pr_map, ("number", "head_sha"), where="pr.")
            number = pr_map["number"]
            if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= MAX_PR_NUMBER:
                raise RequestError(f"pr.number: must be an integer from 1 to {MAX_PR_NUMBER}")
            pr = _build(PullRequestRef, pr_map, strict, "pr.")
        build_apps = body.get("build_apps", [])
        if not isinstance(build_apps, list) or not all(isinstance(a, str) for a in build_apps):
            raise RequestError("build_apps: must be a list of app names")
        _check_image_tag(body)
        return _build(cls, {**body, "pr": pr, "build_apps": tuple(build_apps)}, strict)


@dataclass(frozen=True)
class CancelRequest:
    team: str
    stack: str
    app: str
    pr_number: int
    reason: str  # "closed", "superseded", ...
    delivery: str
    keep_head_sha: str = ""  # runs for this head sha are kept (the superseding run)
    merge_group: str = ""  # set: cancel the runs of this merge group (its head ref) instead of the PR's

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.merge_group:
            del data["merge_group"]
        return data

    @classmethod
    def from_data(cls, data: Any, *, strict: bool = True) -> CancelRequest:
        body = _mapping(data, "run.cancel.requested")
        _require(body, ("team", "stack", "app", "pr_number", "reason", "delivery"))
        return _build(cls, body, strict)


@dataclass(frozen=True)
class CommandTarget:
    stack: str
    app: str


@dataclass(frozen=True)
class CommandRequest:
    """A PR comment's command and the targets it selects, for status-reporter to authorise.

    ``action`` is ``retest`` (``/retest``, ``/retest <app>``, ``/test <stack>/<app>``) or ``cancel``;
    ``""`` with ``error`` (the reply) for a malformed command. ``delivery`` is the comment's
    ``X-GitHub-Delivery``: the requests it leads to derive their ids and PipelineRun names from it.
    """

    team: str
    repo: str
    pr_number: int
    user: str
    command: str
    action: str
    delivery: str
    comment_id: int
    installation_id: int = 0
    targets: tuple[CommandTarget, ...] = ()
    error: str = ""

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["targets"] = [asdict(t) for t in self.targets]
        return data

    @classmethod
    def from_data(cls, data: Any, *, strict: bool = True) -> CommandRequest:
        body = _mapping(data, "command.requested")
        _require(body, ("team", "repo", "pr_number", "user", "delivery", "comment_id"))
        if body.get("action", "") not in ("retest", "cancel", ""):
            raise RequestError(f"action: must be retest, cancel or \"\", got {body.get('action')!r}")
        targets = body.get("targets", [])
        if not isinstance(targets, list) or not all(
            isinstance(t, Mapping) and isinstance(t.get("stack"), str) and isinstance(t.get("app"), str) and t["stack"]
            and t["app"] for t in targets
        ):
            raise RequestError("targets: must be a list of {stack, app} objects")
        built = tuple(CommandTarget(t["stack"], t["app"]) for t in targets)
        return _build(cls, {**body, "targets": built}, strict)


@dataclass(frozen=True)
class BootstrapRequest:
    team: str
    delivery: str
    stack: str = ""  # "" means every stack of the team
    apps: tuple[str, ...] = ()  # empty means every app of the stack
    force_rebuild: bool = False
    image_tag: str = ""  # "" means the team's default bootstrap tag
    requested_by: str = "api"

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["apps"] = list(self.apps)
        return data

    @classmethod
    def from_data(cls, data: Any, *, strict: bool = True) -> BootstrapRequest:
        body = _mapping(data, "bootstrap.requested")
        _require(body, ("team", "delivery"))
        apps = body.get("apps", [])
        if not isinstance(apps, list) or not all(isinstance(a, str) for a in apps):
            raise RequestError("apps: must be a list of app names")
        if not isinstance(body.get("force_rebuild", False), bool):
            raise RequestError("force_rebuild: must be true or false")
        _check_image_tag(body)
        return _build(cls, {**body, "apps": tuple(apps)}, strict)


def _check_image_tag(body: Mapping[str, Any]) -> None:
    """A tag the pipeline would push under must be one ("" means the default tag)."""
    tag = body.get("image_tag")
    problem = pipelines.image_tag_problem(tag) if isinstance(tag, str) and tag else None
    if problem:
        raise RequestError(f"image_tag: {problem}")


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RequestError(f"{what}: data must be a JSON object")
    return value


def _require(body: Mapping[str, Any], names: tuple[str, ...], where: str = "") -> None:
    for name in names:
        value = body.get(name)
        if value is None or value == "":
            raise RequestError(f"{where}{name}: required")


def _build(cls: type[_Request], body: Mapping[str, Any], strict: bool, where: str = "") -> _Request:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(body) - set(known))
    if unknown and strict:
        raise RequestError(f"{where}{unknown[0]}: unknown field")
    body = {name: value for name, value in body.items() if name in known}
    for name, value in body.items():
        expected = known[name].type
        if expected == "str" and not isinstance(value, str):
            raise RequestError(f"{where}{name}: must be a string")
        if expected == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            raise RequestError(f"{where}{name}: must be an integer")
    return cls(**body)


__all__ = ["BootstrapRequest", "CancelRequest", "CommandRequest", "CommandTarget", "PullRequestRef", "RequestError",
           "RunRequest"]
