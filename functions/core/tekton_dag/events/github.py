"""GitHub webhook payloads, parsed once into one normalised, frozen event.

``parse_payload`` turns a verified webhook (event name, delivery id, decoded JSON) into a
``GitHubEvent``; ``GitHubEvent.to_data()`` is the slim data of the CloudEvent webhook-ingest
publishes (a few hundred bytes where GitHub sends 25 KB), and ``from_data`` reads it back in the
resolver. The slim data's JSON schema is ``schemas/github.pull_request.v1.json`` /
``schemas/github.push.v1.json``; ``from_data`` validates against it so a bad event is refused
with a precise message (a permanent error) instead of failing halfway.

Besides pull requests and pushes, the deliveries that ask for a run again or elsewhere (issue 15;
payload fields as GitHub documents them at docs.github.com/en/webhooks/webhook-events-and-payloads
and as ``@octokit/webhooks-schemas`` describes them):

- ``issue_comment`` ``created`` on a pull request (``issue.pull_request`` present) whose first line is
  a command (``/retest``, ``/test``, ``/cancel``: ``COMMANDS``); ``checks.commands`` parses it;
- ``check_run`` / ``check_suite`` ``rerequested`` (GitHub's Re-run buttons);
- ``merge_group`` ``checks_requested`` / ``destroyed`` (merge queues).

``ignored_reason`` says why a delivery of these events starts nothing (not published); the slim
data's schemas are ``schemas/github.<event>.v1.json``.

Edge cases:
- ``head.repo`` is ``null`` when the fork a PR came from was deleted: the PR counts as a fork.
- A branch deletion is a push with ``deleted: true`` and ``after`` all zeros.
- ``check_run.pull_requests`` / ``check_suite.pull_requests`` list only pull requests whose head is in
  the repository itself (a fork's PR is not listed): such a re-run names no PR (``pr_number`` 0).
  They may also list pull requests of other repositories with that head (a fork's parent): only
  one whose base repository is the webhook's own counts (``_own_pull_request``). A pull request
  listed at a newer head than the re-run check's is the re-run of an outdated head
  (``Rerun.newer_head_sha``, ``outdated_reason``): the resolver runs nothing for it, and
  status-reporter settles the checks GitHub reset for the re-run (``usecases.declining``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

from tekton_dag.events import catalog, schemas

PING: Final = "ping"
PULL_REQUEST: Final[Literal["pull_request"]] = "pull_request"
PUSH: Final[Literal["push"]] = "push"

# The pull_request actions that can start, release or cancel a run; others are not published.
PR_ACTIONS: Final = ("opened", "synchronize", "reopened", "ready_for_review", "closed")

ISSUE_COMMENT: Final[Literal["issue_comment"]] = "issue_comment"
CHECK_RUN: Final[Literal["check_run"]] = "check_run"
CHECK_SUITE: Final[Literal["check_suite"]] = "check_suite"
MERGE_GROUP: Final[Literal["merge_group"]] = "merge_group"

# The words a PR comment's first line starts with to be a command (checks/commands.py parses it).
COMMANDS: Final = ("/retest", "/test", "/cancel")
MAX_COMMAND = 200  # characters of a command line carried on; a longer one is malformed anyway
RERUN_ACTION: Final = "rerequested"
CHECK_PREFIX: Final = "tekton-dag / "
_CHECK_NAME: Final = re.compile(r"tekton-dag / ([a-z0-9-]{1,63}) \(([a-z0-9-]{1,63})\)")
MERGE_GROUP_ACTIONS: Final = ("checks_requested", "destroyed")

EventName = Literal["pull_request", "push", "issue_comment", "check_run", "check_suite", "merge_group"]
CLOUDEVENT_TYPES: Final[dict[EventName, str]] = {
    PULL_REQUEST: catalog.GITHUB_PULL_REQUEST, PUSH: catalog.GITHUB_PUSH,
    ISSUE_COMMENT: catalog.GITHUB_ISSUE_COMMENT, CHECK_RUN: catalog.GITHUB_CHECK_RUN,
    CHECK_SUITE: catalog.GITHUB_CHECK_SUITE, MERGE_GROUP: catalog.GITHUB_MERGE_GROUP,
}
EVENT_NAMES: Final[dict[str, EventName]] = {ce_type: name for name, ce_type in CLOUDEVENT_TYPES.items()}

_T = TypeVar("_T")


class PayloadError(Exception):
    """A webhook payload or slim event data that is not what GitHub sends (a permanent error)."""


@dataclass(frozen=True)
class PullRequest:
    action: str
    number: int
    draft: bool
    merged: bool
    base_ref: str
    base_repo: str  # owner/name the PR targets
    head_sha: str
    head_ref: str
    head_repo: str  # owner/name the PR comes from; "" when that fork was deleted
    merge_commit_sha: str = ""
    before: str = ""  # synchronize only: the head sha this push replaced (GitHub's ``before``)

    @property
    def fork(self) -> bool:
        return self.head_repo.lower() != self.base_repo.lower()


@dataclass(frozen=True)
class Push:
    ref: str  # refs/heads/main, refs/tags/v1
    before: str
    after: str
    deleted: bool = False

    @property
    def branch(self) -> str | None:
        """The branch name, or None for a tag (or any other ref)."""
        prefix = "refs/heads/"
        return self.ref[len(prefix):] if self.ref.startswith(prefix) else None


@dataclass(frozen=True)
class Comment:
    """A command commented on a pull request (``issue_comment`` ``created``)."""

    number: int  # issue.number: the pull request's number
    command: str  # the comment's first line, stripped (at most MAX_COMMAND + 1 characters)
    user: str  # comment.user.login: who asked (authorised later, by status-reporter)
    comment_id: int


@dataclass(frozen=True)
class Rerun:
    """A Re-run button pressed: ``check_run`` (one check) or ``check_suite`` (all of a head) ``rerequested``."""

    head_sha: str
    pr_number: int = 0  # the first pull request GitHub lists for the head; 0: none listed (a fork's)
    base_ref: str = ""  # that pull request's base branch
    check_run_id: int = 0  # check_run only
    check_name: str = ""  # check_run only: ``tekton-dag / <stack> (<app>)`` for ours
    external_id: str = ""  # check_run only: the PipelineRun name for ours
    check_suite_id: int = 0  # the suite GitHub reset to queued for the re-run
    newer_head_sha: str = ""  # the pull request's head when it is no longer head_sha: an outdated re-run


@dataclass(frozen=True)
class MergeGroup:
    """A merge queue's group to test (``checks_requested``) or that is gone (``destroyed``)."""

    action: str
    head_sha: str  # the commit the queue tests: where the check belongs
    head_ref: str  # refs/heads/gh-readonly-queue/<base>/pr-<n>-<base sha>
    base_ref: str  # refs/heads/<base>
    base_sha: str
    reason: str = ""  # destroyed only: merged, invalidated or dequeued

    @property
    def base_branch(self) -> str:
        return self.base_ref.removeprefix("refs/heads/")


@dataclass(frozen=True)
class GitHubEvent:
    """One GitHub delivery we act on, on ``repo``: a pull request change, a push, a command, a
    re-run or a merge group."""

    name: EventName
    delivery: str  # X-GitHub-Delivery
    repo: str  # owner/name of the repository the webhook is about
    sender: str
    pull_request: PullRequest | None = None
    push: Push | None = None
    comment: Comment | None = None
    rerun: Rerun | None = None
    merge_group: MergeGroup | None = None
    # The GitHub App installation that sent the webhook (``installation.id``); 0 when the webhook
    # is a repository's own, not an App's. status-reporter acts on the repository as this installation.
    installation_id: int = 0

    @property
    def cloudevent_type(self) -> str:
        return CLOUDEVENT_TYPES[self.name]

    def to_data(self) -> dict[str, Any]:
        """The slim CloudEvent data: only what the resolver and run-creator need."""
        data: dict[str, Any] = {"repo": self.repo, "sender": self.sender}
        if self.pull_request is not None:
            data["pull_request"] = _fields_of(self.pull_request)
            if not self.pull_request.before:
                del data["pull_request"]["before"]  # only a synchronize has one
        if self.push is not None:
            data["push"] = _fields_of(self.push)
        for part in ("comment", "rerun", "merge_group"):
            if getattr(self, part) is not None:
                data[part] = _fields_of(getattr(self, part))
        if self.installation_id:
            data["installation_id"] = self.installation_id
        return data

    @classmethod
    def from_data(cls, cloudevent_type: str, delivery: str, data: Any) -> GitHubEvent:
        """Read slim data back; raises ``PayloadError`` naming the first bad field."""
        name = EVENT_NAMES.get(cloudevent_type)
        if name is None:
            raise PayloadError(f"type: not a GitHub event type: {cloudevent_type!r}")
        schemas.check(cloudevent_type, data, PayloadError)
        return cls(
            name, delivery, data["repo"], data["sender"],
            pull_request=_known(PullRequest, data["pull_request"]) if name == PULL_REQUEST else None,
            push=_known(Push, data["push"]) if name == PUSH else None,
            comment=_known(Comment, data["comment"]) if name == ISSUE_COMMENT else None,
            rerun=_known(Rerun, data["rerun"]) if name in (CHECK_RUN, CHECK_SUITE) else None,
            merge_group=_known(MergeGroup, data["merge_group"]) if name == MERGE_GROUP else None,
            installation_id=data.get("installation_id", 0),
        )


def _known(cls: type[_T], fields: Mapping[str, Any]) -> _T:
    """``cls`` from the fields it declares: a newer producer may add fields (compatible change)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{key: value for key, value in fields.items() if key in names})


def infer_event(payload: Any) -> str | None:
    """The ``X-GitHub-Event`` a saved body was sent with, from its shape; None when unclear.
    Shapes from GitHub's webhook payload reference (docs.github.com/en/webhooks/webhook-events-and-payloads;
    the schemas of github/rest-api-description, e.g. webhook-ping requires hook, hook_id and zen):
    ``ping`` carries ``zen`` and ``hook_id``; ``pull_request`` an ``action`` and a ``pull_request``
    object; ``push`` ``ref``, ``before``, ``after`` and ``pusher``; ``issue_comment`` ``issue`` and
    ``comment``; ``check_run``, ``check_suite`` and ``merge_group`` an ``action`` and their object."""
    if not isinstance(payload, Mapping):
        return None
    if "zen" in payload and "hook_id" in payload:
        return PING
    if isinstance(payload.get("pull_request"), Mapping) and "action" in payload and "number" in payload:
        return PULL_REQUEST
    # issue 15's events: each carries its object under the event's own name (webhooks-schemas).
    if isinstance(payload.get("comment"), Mapping) and isinstance(payload.get("issue"), Mapping):
        return ISSUE_COMMENT
    for name in (CHECK_RUN, CHECK_SUITE, MERGE_GROUP):
        if isinstance(payload.get(name), Mapping) and "action" in payload:
            return name
    if all(key in payload for key in ("ref", "before", "after", "pusher")):
        return PUSH
    return None


def check_name(stack: str, app: str) -> str:
    """The name of a target's check run (issue 15): ``tekton-dag / <stack> (<app>)``."""
    return f"{CHECK_PREFIX}{stack} ({app})"


def check_target(name: str) -> tuple[str, str] | None:
    """(stack, app) of one of our check runs' names; None for anyone else's check."""
    found = _CHECK_NAME.fullmatch(name)
    return (found[1], found[2]) if found else None


def command_line(body: str) -> str:
    """The first line of a comment, stripped and cut to MAX_COMMAND + 1 characters."""
    return body.lstrip().split("\n", 1)[0].strip()[: MAX_COMMAND + 1]


def is_command(body: str) -> bool:
    words = command_line(body).split(maxsplit=1)
    return bool(words) and words[0] in COMMANDS


def ignored_reason(name: str, payload: Any) -> str | None:
    """Why a delivery of a handled event starts nothing (not published), or None to go on. Reads
    only what it needs and leaves a payload of the wrong shape to ``parse_payload`` (a 400)."""
    if not isinstance(payload, Mapping):
        return None
    action = payload.get("action")
    if name == PULL_REQUEST and action not in PR_ACTIONS:
        return f"pull_request action {action!r} starts nothing"
    if name in (CHECK_RUN, CHECK_SUITE) and action != RERUN_ACTION:
        return f"{name} action {action!r} starts nothing (only {RERUN_ACTION})"
    if name == MERGE_GROUP and action not in MERGE_GROUP_ACTIONS:
        return f"merge_group action {action!r} starts nothing (only {' and '.join(MERGE_GROUP_ACTIONS)})"
    if name != ISSUE_COMMENT:
        return None
    if action != "created":
        return f"issue_comment action {action!r} starts nothing (only created: an edited command is not run)"
    issue, comment = payload.get("issue"), payload.get("comment")
    if not isinstance(issue, Mapping) or not isinstance(comment, Mapping) or not isinstance(comment.get("body"), str):
        return None
    if issue.get("pull_request") is None:
        return f"comment on issue #{issue.get('number')}, not on a pull request"
    if not is_command(comment["body"]):
        return f"comment is not a command (its first line does not start with {', '.join(COMMANDS)})"
    return None


def outdated_reason(event: GitHubEvent) -> str | None:
    """Why a re-run of an older head of a pull request runs nothing, or None.

    GitHub lists a pull request whose head *branch* matches the check, at the pull request's
    newest head (check-run ``pull_requests`` in @octokit/openapi: "open with a `head_sha` or
    `head_branch` that matches the check"; octokit/webhooks payload-examples: "The `head_sha` of
    the check suite can differ from the `sha` of the pull request if subsequent pushes are made
    into the PR"). Re-run as that pull request's, the older head would count as its newest: it
    would supersede (cancel) the runs of the real head, once run-creator no longer remembers it
    as superseded (it keeps a few per pull request)."""
    rerun = event.rerun
    if rerun is None or not rerun.newer_head_sha:
        return None
    return (f"{event.name} head {rerun.head_sha[:12]} is no longer the head of pull request #{rerun.pr_number} "
            f"(now {rerun.newer_head_sha[:12]}): nothing re-run (re-run the check of its newest head, or comment "
            "/retest)")


def parse_payload(name: str, delivery: str, payload: Any) -> GitHubEvent:
    """Normalise a webhook body of a handled event; raises ``PayloadError`` naming the payload's
    field when one is missing, of the wrong type, or outside what GitHub sends (the bounds of the
    slim data's schema, which the resolver checks again)."""
    if not isinstance(payload, Mapping):
        raise PayloadError("body: must be a JSON object")
    body = _Fields(payload, "")
    repo = body.obj("repository").text("full_name")
    sender = body.obj("sender").text("login") if payload.get("sender") is not None else ""
    installation = body.obj("installation").integer("id") if payload.get("installation") is not None else 0
    parts: dict[str, Any]
    if name == PULL_REQUEST:
        parts = {"pull_request": _pull_request(body)}
    elif name == PUSH:
        parts = {"push": _push(body)}
    elif name == ISSUE_COMMENT:
        parts = {"comment": _comment(body)}
    elif name in (CHECK_RUN, CHECK_SUITE):
        parts = {"rerun": _rerun(body, name)}
    elif name == MERGE_GROUP:
        parts = {"merge_group": _merge_group(body)}
    else:
        raise PayloadError(f"X-GitHub-Event: {name!r} is not handled")
    event = GitHubEvent(name, delivery, repo, sender, installation_id=installation, **parts)
    _check_bounds(event)
    return event


# Where each field of the slim data comes from in GitHub's payload (for the 400's wording).
_PAYLOAD_FIELDS: Final = {
    ("repo",): "repository.full_name",
    ("sender",): "sender.login",
    ("installation_id",): "installation.id",
    ("pull_request", "action"): "action",
    ("pull_request", "number"): "pull_request.number",
    ("pull_request", "draft"): "pull_request.draft",
    ("pull_request", "merged"): "pull_request.merged",
    ("pull_request", "base_ref"): "pull_request.base.ref",
    ("pull_request", "base_repo"): "pull_request.base.repo.full_name",
    ("pull_request", "head_sha"): "pull_request.head.sha",
    ("pull_request", "head_ref"): "pull_request.head.ref",
    ("pull_request", "head_repo"): "pull_request.head.repo.full_name",
    ("pull_request", "merge_commit_sha"): "pull_request.merge_commit_sha",
    ("push", "ref"): "ref",
    ("push", "before"): "before",
    ("push", "after"): "after",
    ("push", "deleted"): "deleted",
    ("comment", "number"): "issue.number",
    ("comment", "command"): "comment.body",
    ("comment", "user"): "comment.user.login",
    ("comment", "comment_id"): "comment.id",
    ("merge_group", "action"): "action",
    ("merge_group", "head_sha"): "merge_group.head_sha",
    ("merge_group", "head_ref"): "merge_group.head_ref",
    ("merge_group", "base_ref"): "merge_group.base_ref",
    ("merge_group", "base_sha"): "merge_group.base_sha",
    ("merge_group", "reason"): "reason",
}
# pr_number and base_ref come from the repository's own entry of pull_requests (_own_pull_request)
_RERUN_FIELDS: Final = {"check_run_id": "id", "check_name": "name", "external_id": "external_id",
                        "head_sha": "head_sha", "pr_number": "pull_requests[].number",
                        "base_ref": "pull_requests[].base.ref", "check_suite_id": "check_suite.id",
                        "newer_head_sha": "pull_requests[].head.sha"}
_SHOWN: Final = 80  # characters of a refused value echoed back


def _fields_of(part: PullRequest | Push | Comment | Rerun | MergeGroup) -> dict[str, Any]:
    """A part's fields by name, in declaration order: ``dataclasses.asdict`` without its deep copy
    (every field is a str, int or bool), which was a twentieth of webhook-ingest's time per webhook."""
    return dict(vars(part))


def _check_bounds(event: GitHubEvent) -> None:
    """Refuse a value GitHub would never send, naming the payload field and the rule it breaks
    (the rule is the slim schema's ``description`` of the field)."""
    found = schemas.problem(event.cloudevent_type, event.to_data())
    if found is None:
        return
    path, message, rule = found
    key = tuple(str(p) for p in path)
    field = _PAYLOAD_FIELDS.get(key, ".".join(map(str, path)))
    if key[:1] == ("rerun",) and len(key) == 2:
        field = f"{event.name}.{_RERUN_FIELDS.get(key[1], key[1])}"
    value: Any = event.to_data()
    for part in path:
        value = value[part]
    shown = json.dumps(value)
    shown = shown if len(shown) <= _SHOWN else f"{shown[:_SHOWN]}... ({len(shown)} characters)"
    raise PayloadError(f"{field}: must be {rule['description']}, got {shown}" if "description" in rule
                       else f"{field}: {message[:200]}")


def _pull_request(body: _Fields) -> PullRequest:
    pr = body.obj("pull_request")
    base, head = pr.obj("base"), pr.obj("head")
    head_repo = head.obj("repo").text("full_name") if head.raw.get("repo") is not None else ""
    return PullRequest(
        action=body.text("action"),
        number=pr.integer("number"),
        draft=pr.flag("draft", default=False),
        merged=pr.flag("merged", default=False),
        base_ref=base.text("ref"),
        base_repo=base.obj("repo").text("full_name"),
        head_sha=head.text("sha"),
        head_ref=head.text("ref"),
        head_repo=head_repo,
        merge_commit_sha=pr.text("merge_commit_sha", default=""),
        # GitHub sends before/after at the top level of a synchronize (the push that moved the head).
        before=body.text("before", default="") if body.raw.get("action") == "synchronize" else "",
    )


def _comment(body: _Fields) -> Comment:
    comment = body.obj("comment")
    return Comment(
        number=body.obj("issue").integer("number"),
        command=command_line(comment.text("body")),
        user=comment.obj("user").text("login"),
        comment_id=comment.integer("id"),
    )


def _rerun(body: _Fields, name: str) -> Rerun:
    check = body.obj(name)
    first = _own_pull_request(check, name, body.obj("repository").integer("id"))
    if first is not None and first.integer("number") < 1:  # 0 means "none listed" in the slim data
        raise PayloadError(f"{first.path}number: must be a pull request number from 1 to 2147483647")
    head = check.text("head_sha")
    newest = first.obj("head").text("sha") if first else head
    return Rerun(
        head_sha=head,
        pr_number=first.integer("number") if first else 0,
        base_ref=first.obj("base").text("ref") if first else "",
        check_run_id=check.integer("id") if name == CHECK_RUN else 0,
        check_name=check.text("name") if name == CHECK_RUN else "",
        external_id=check.text("external_id", default="") if name == CHECK_RUN else "",
        check_suite_id=check.obj("check_suite").integer("id") if name == CHECK_RUN else check.integer("id"),
        newer_head_sha="" if newest == head else newest,
    )


def _own_pull_request(check: _Fields, name: str, repository_id: int) -> _Fields | None:
    """The first of ``pull_requests`` that is a pull request of the repository itself, or None.

    GitHub lists every pull request whose head matches the check's branch, whatever repository
    it lives in: a check suite of a fork lists its parent's pull request (octo-sts/app#1590),
    and index 0 has no guaranteed relation to the check (dcoapp/app#307). Its number is only
    meaningful in its own repository, the one ``base.repo.id`` names (``check-run-pull-request``
    of @octokit/webhooks-schemas): another repository's number here would re-run, and supersede
    the runs of, this repository's pull request that happens to have that number."""
    for index, item in enumerate(check.array("pull_requests")):
        if not isinstance(item, Mapping):
            raise PayloadError(f"{name}.pull_requests[{index}]: must be an object")
        pull = _Fields(item, f"{name}.pull_requests[{index}].")
        if pull.obj("base").obj("repo").integer("id") == repository_id:
            return pull
    return None


def _merge_group(body: _Fields) -> MergeGroup:
    group = body.obj("merge_group")
    action = body.text("action")
    return MergeGroup(
        action=action,
        head_sha=group.text("head_sha"),
        head_ref=group.text("head_ref"),
        base_ref=group.text("base_ref"),
        base_sha=group.text("base_sha"),
        reason=body.text("reason") if action == "destroyed" else "",
    )


def _push(body: _Fields) -> Push:
    return Push(
        ref=body.text("ref"),
        before=body.text("before"),
        after=body.text("after"),
        deleted=body.flag("deleted", default=False),
    )


_KINDS: Final = {Mapping: "an object", str: "a string", int: "an integer", bool: "true or false", list: "an array"}


class _Fields:
    """Typed reads from a JSON object, with errors naming the dotted path of the field."""

    _MISSING: Final = object()

    def __init__(self, raw: Mapping[str, Any], path: str):
        self.raw = raw
        self.path = path

    def _get(self, key: str, kind: type[_T], default: _T | None) -> _T:
        """``key``'s value, which must be a ``kind``; absent or null gives ``default`` (None: required)."""
        value = self.raw.get(key, self._MISSING)
        if (value is self._MISSING or value is None) and default is not None:
            return default
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            what = "missing" if value is self._MISSING else f"must be {_KINDS[kind]}"
            raise PayloadError(f"{self.path}{key}: {what}")
        return value

    def obj(self, key: str) -> _Fields:
        # Mapping is abstract, which mypy refuses for type[_T]; _get only checks isinstance with it.
        return _Fields(self._get(key, Mapping, None), f"{self.path}{key}.")  # type: ignore[type-abstract]

    def text(self, key: str, default: str | None = None) -> str:
        return self._get(key, str, default)

    def integer(self, key: str) -> int:
        return self._get(key, int, None)

    def flag(self, key: str, default: bool | None = None) -> bool:
        return self._get(key, bool, default)

    def array(self, key: str) -> list[Any]:
        return self._get(key, list, None)
