"""GitHub webhook payloads, parsed once into one normalised, frozen event.

``parse_payload`` turns a verified webhook (event name, delivery id, decoded JSON) into a
``GitHubEvent``; ``GitHubEvent.to_data()`` is the slim data of the CloudEvent webhook-ingest
publishes (a few hundred bytes where GitHub sends 25 KB), and ``from_data`` reads it back in the
resolver. The slim data's JSON schema is ``schemas/github.pull_request.v1.json`` /
``schemas/github.push.v1.json``; ``from_data`` validates against it so a bad event is refused
with a precise message (a permanent error) instead of failing halfway.

Edge cases:
- ``head.repo`` is ``null`` when the fork a PR came from was deleted: the PR counts as a fork.
- A branch deletion is a push with ``deleted: true`` and ``after`` all zeros.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal, TypeVar

from tekton_dag.events import catalog, schemas

PING: Final = "ping"
PULL_REQUEST: Final[Literal["pull_request"]] = "pull_request"
PUSH: Final[Literal["push"]] = "push"

# The pull_request actions that can start, release or cancel a run; others are not published.
PR_ACTIONS: Final = ("opened", "synchronize", "reopened", "ready_for_review", "closed")

EventName = Literal["pull_request", "push"]
CLOUDEVENT_TYPES: Final[dict[EventName, str]] = {PULL_REQUEST: catalog.GITHUB_PULL_REQUEST, PUSH: catalog.GITHUB_PUSH}
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
class GitHubEvent:
    """One GitHub delivery we act on: a pull request change or a push, on ``repo``."""

    name: EventName
    delivery: str  # X-GitHub-Delivery
    repo: str  # owner/name of the repository the webhook is about
    sender: str
    pull_request: PullRequest | None = None
    push: Push | None = None
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
            data["pull_request"] = asdict(self.pull_request)
            if not self.pull_request.before:
                del data["pull_request"]["before"]  # only a synchronize has one
        if self.push is not None:
            data["push"] = asdict(self.push)
        if self.installation_id:
            data["installation_id"] = self.installation_id
        return data

    @classmethod
    def from_data(cls, cloudevent_type: str, delivery: str, data: Any) -> GitHubEvent:
        """Read slim data back; raises ``PayloadError`` naming the first bad field."""
        name = EVENT_NAMES.get(cloudevent_type)
        if name != PULL_REQUEST and name != PUSH:
            raise PayloadError(f"type: not a GitHub event type: {cloudevent_type!r}")
        schemas.check(cloudevent_type, data, PayloadError)
        pull_request = _known(PullRequest, data["pull_request"]) if name == PULL_REQUEST else None
        push = _known(Push, data["push"]) if name == PUSH else None
        return cls(name, delivery, data["repo"], data["sender"], pull_request, push,
                   int(data.get("installation_id") or 0))


def _known(cls: type[_T], fields: Mapping[str, Any]) -> _T:
    """``cls`` from the fields it declares: a newer producer may add fields (compatible change)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{key: value for key, value in fields.items() if key in names})


def infer_event(payload: Any) -> str | None:
    """The ``X-GitHub-Event`` a saved body was sent with, from its shape; None when unclear.
    Shapes from GitHub's webhook payload reference (docs.github.com/en/webhooks/webhook-events-and-payloads;
    the schemas of github/rest-api-description, e.g. webhook-ping requires hook, hook_id and zen):
    ``ping`` carries ``zen`` and ``hook_id``; ``pull_request`` an ``action`` and a ``pull_request``
    object; ``push`` ``ref``, ``before``, ``after`` and ``pusher``."""
    if not isinstance(payload, Mapping):
        return None
    if "zen" in payload and "hook_id" in payload:
        return PING
    if isinstance(payload.get("pull_request"), Mapping) and "action" in payload and "number" in payload:
        return PULL_REQUEST
    if all(key in payload for key in ("ref", "before", "after", "pusher")):
        return PUSH
    return None


def parse_payload(name: str, delivery: str, payload: Any) -> GitHubEvent:
    """Normalise a ``pull_request`` or ``push`` webhook body; raises ``PayloadError`` naming the
    payload's field when one is missing, of the wrong type, or outside what GitHub sends (the
    bounds of the slim data's schema, which the resolver checks again)."""
    if not isinstance(payload, Mapping):
        raise PayloadError("body: must be a JSON object")
    body = _Fields(payload, "")
    repo = body.obj("repository").text("full_name")
    sender = body.obj("sender").text("login") if payload.get("sender") is not None else ""
    installation = body.obj("installation").integer("id") if payload.get("installation") is not None else 0
    if name == PULL_REQUEST:
        event = GitHubEvent(PULL_REQUEST, delivery, repo, sender, pull_request=_pull_request(body),
                            installation_id=installation)
    elif name == PUSH:
        event = GitHubEvent(PUSH, delivery, repo, sender, push=_push(body), installation_id=installation)
    else:
        raise PayloadError(f"X-GitHub-Event: {name!r} is not handled")
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
}
_SHOWN: Final = 80  # characters of a refused value echoed back


def _check_bounds(event: GitHubEvent) -> None:
    """Refuse a value GitHub would never send, naming the payload field and the rule it breaks
    (the rule is the slim schema's ``description`` of the field)."""
    found = schemas.problem(event.cloudevent_type, event.to_data())
    if found is None:
        return
    path, message, rule = found
    field = _PAYLOAD_FIELDS.get(tuple(str(p) for p in path), ".".join(map(str, path)))
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


def _push(body: _Fields) -> Push:
    return Push(
        ref=body.text("ref"),
        before=body.text("before"),
        after=body.text("after"),
        deleted=body.flag("deleted", default=False),
    )


_KINDS: Final = {Mapping: "an object", str: "a string", int: "an integer", bool: "true or false"}


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
