"""status-reporter's use case for a PR command (``command.requested``): authorise it, then say what to publish.

The resolver parses a comment's command and picks its targets, but holds no GitHub credentials
(closed by default); status-reporter does, so it calls ``authorise``:

1. a malformed command (``error`` set by the resolver) → a reply saying why, nothing else;
2. the commenter must be in the team's ``commands.users`` or have ``write``, ``maintain`` or
   ``admin`` permission on the repository (``GitHub.permission``: GET
   /repos/{owner}/{repo}/collaborators/{username}/permission, docs.github.com/en/rest/collaborators/
   collaborators#get-repository-permissions-for-a-user), cached for ``PERMISSION_TTL_S``; else a reply;
3. ``/cancel`` → one ``CancelRequest`` per target;
   ``/retest`` (any form) → the PR's head sha and base branch (``GitHub.pull_request_head``), checked
   against the team's ``pullRequests.baseBranches``, then one ``RunRequest`` per target with
   ``rerun`` = the comment's delivery id.

``carry_out`` is the whole of status-reporter's part: check the seal, read the request, authorise,
publish the sealed requests to the Broker, then post the reply (if any) once.

Exactly once per comment delivery: the requests' event ids are ``<delivery>/<team>/<stack>/<app>``
and a re-run's PipelineRun name derives from the delivery id (``pipelineruns.naming.identity``), so
a redelivered ``command.requested`` (or a Broker retry) publishes the same events again and
run-creator creates nothing new. Replies are posted once per command event (one per team the
comment's delivery concerns; id ``<delivery>/<team>/command``) by ``Replies``: the event
ids already answered are remembered in this process (GitHub's comments API has no idempotency key,
and finding an earlier reply would cost a paged listing of the PR's comments on every reply). The
Broker's retries come to the same process within seconds (status-reporter runs one replica); what
this does not cover is a restart between posting a reply and acknowledging the event, or a
manual redelivery after a restart: then the reply is posted a second time (a run never starts twice).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from cloudevents.core.v1.event import CloudEvent

from tekton_dag import pipelines, resolution
from tekton_dag.config.models import Config, Team
from tekton_dag.events import catalog, codec, sealing
from tekton_dag.events.requests import CancelRequest, CommandRequest, PullRequestRef, RunRequest
from tekton_dag.github.port import GitHub, GitHubError, Permission, Repo

log = logging.getLogger(__name__)

PERMISSION_TTL_S: Final = 60.0  # a revoked permission stops working within a minute
WRITERS: Final = ("admin", "maintain", "write")


@dataclass(frozen=True)
class Decision:
    """What to do about one command: publish ``requests`` (event id, request), and/or post ``reply``
    as a comment on the pull request."""

    requests: tuple[tuple[str, RunRequest | CancelRequest], ...] = ()
    reply: str = ""


@dataclass
class PermissionCache:
    """(repository, login) → permission, for ``ttl`` seconds: a burst of commands costs one call."""

    ttl: float = PERMISSION_TTL_S
    clock: Callable[[], float] = time.monotonic
    _entries: dict[tuple[str, str], tuple[Permission, float]] = field(default_factory=dict)

    async def permission(self, github: GitHub, repo: Repo, user: str) -> Permission:
        key, now = (repo.full_name.lower(), user.lower()), self.clock()
        cached = self._entries.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            permission = await github.permission(repo, user)
        except GitHubError as exc:
            if exc.status != 404:  # 404: not a collaborator (nor anyone GitHub knows): no permission
                raise
            permission = "none"
        if len(self._entries) > 4096:  # bounded: expired entries go first, then everything
            self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            if len(self._entries) > 4096:
                self._entries.clear()
        self._entries[key] = (permission, now + self.ttl)
        return permission


DEFAULT_PERMISSIONS: Final = PermissionCache()  # one per process, shared by every command


async def authorise(command: CommandRequest, github: GitHub, team: Team, *,
                    permissions: PermissionCache = DEFAULT_PERMISSIONS) -> Decision:
    """The requests ``command`` leads to, or the reply refusing it. Raises ``GitHubError`` when
    GitHub cannot answer (retryable: answer the Broker 503 so it redelivers)."""
    owner, _, name = command.repo.partition("/")
    repo = Repo(owner, name, command.installation_id or None)
    asker = f"@{command.user}"
    if command.error:
        return Decision(reply=f"{asker} {command.error}")
    if not team.commands.allows(command.user):
        permission = await permissions.permission(github, repo, command.user)
        if permission not in WRITERS:
            return Decision(reply=(
                f"{asker} `{_shown(command.command)}` was not run: it needs write permission on {command.repo} (yours: "
                f"{permission}) or a place in team {team.name}'s `commands.users`."
            ))
    targets = command.targets
    if command.action == "cancel":
        reason = f"/cancel by {command.user}"
        return Decision(tuple(
            (_event_id(command, t.stack, t.app),
             CancelRequest(team.name, t.stack, t.app, command.pr_number, reason, command.delivery))
            for t in targets
        ))
    head_sha, base_ref, is_open = await github.pull_request_head(repo, command.pr_number)
    if not is_open:  # its runs were cancelled when it closed: a new one would run for nothing
        return Decision(reply=f"{asker} nothing to re-run: #{command.pr_number} is closed.")
    if not resolution.branch_selected(base_ref, team.pull_requests.base_branches):
        return Decision(reply=(
            f"{asker} nothing to re-run: base branch {base_ref} of #{command.pr_number} does not match team "
            f"{team.name}'s `pullRequests.baseBranches`."
        ))
    pr = PullRequestRef(command.pr_number, head_sha, base_ref)
    return Decision(tuple(
        (_event_id(command, t.stack, t.app), RunRequest(
            team=team.name, stack=t.stack, pipeline=pipelines.PR_TEST, delivery=command.delivery, app=t.app,
            repo=command.repo, revision=head_sha, pr=pr, requested_by="github", rerun=command.delivery,
            installation_id=command.installation_id,  # the re-run's check is reported through the App
        ))
        for t in targets
    ))


def events(decision: Decision, cause: CloudEvent, source: str) -> list[CloudEvent]:
    """The (unsealed) request events of ``decision``, carrying ``cause``'s trace, delivery and
    received time; seal each before publishing (``events.sealing.Keys.seal``)."""
    return [
        codec.request_event(
            request, source, event_id, repo=cause.get_subject() or "",
            github_delivery=codec.extension(cause, catalog.EXT_GITHUB_DELIVERY),
            traceparent=codec.extension(cause, catalog.EXT_TRACEPARENT),
            received=codec.extension(cause, catalog.EXT_RECEIVED),
        )
        for event_id, request in decision.requests
    ]


REMEMBERED_REPLIES: Final = 4096  # command event ids answered (a Broker retry comes within a minute)


@dataclass
class Replies:
    """Posts a command's reply once per command event id in this process (module docstring)."""

    limit: int = REMEMBERED_REPLIES
    _posted: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _posting: dict[str, tuple[asyncio.Lock, int]] = field(default_factory=dict)  # key -> (lock, users)

    async def post_once(self, github: GitHub, repo: Repo, number: int, key: str, body: str) -> bool:
        """Comment ``body`` on ``number`` unless ``key`` was answered already; True when posted.
        Two deliveries of one event at once post one reply (a lock per key: other commands' replies
        do not wait); a failed post is not remembered (the Broker's retry posts it)."""
        lock, users = self._posting.get(key, (asyncio.Lock(), 0))
        self._posting[key] = (lock, users + 1)
        try:
            async with lock:
                if key in self._posted:
                    return False
                await github.comment(repo, number, body)
                self._posted[key] = None
                while len(self._posted) > self.limit:
                    self._posted.popitem(last=False)
                return True
        finally:
            lock, users = self._posting[key]
            if users == 1:
                del self._posting[key]
            else:
                self._posting[key] = (lock, users - 1)


Publish = Callable[[CloudEvent], Awaitable[None]]


async def carry_out(event: CloudEvent, config: Config, github: GitHub, keys: sealing.EventKeys, publish: Publish, *,
                    replies: Replies, permissions: PermissionCache = DEFAULT_PERMISSIONS) -> str:
    """Act on one ``command.requested``: what happened, as a short word for logs and metrics
    (``published``, ``refused``, ``unconfigured``).

    Raises ``SealError`` (forged or unsealed: nothing is done), ``RequestError`` (malformed data),
    ``GitHubError`` (retryable: the Broker retries; the requests published before are repeated with
    the same ids) and whatever ``publish`` raises when the Broker refuses."""
    data = codec.data(event)
    keys.check(event, data)
    command = CommandRequest.from_data(data, strict=False)
    team = config.team(command.team)
    if team is None:  # the resolver's configuration knew a team this one does not (a rollout): closed
        log.warning("command %s: team %r is not configured here; nothing done", command.delivery, command.team)
        return "unconfigured"
    decision = await authorise(command, github, team, permissions=permissions)
    for request in events(decision, event, catalog.SOURCE_STATUS_REPORTER):
        await publish(keys.seal(request, request.get_data()))
    reply = decision.reply or _acknowledgement(command, team, decision)
    if reply:
        owner, _, name = command.repo.partition("/")
        repo = Repo(owner, name, command.installation_id or None)
        await replies.post_once(github, repo, command.pr_number, event.get_id(), reply)
    verb = "refused" if not decision.requests else "published"
    log.info("command %s %r by %s on %s#%d: %s (%d request(s))", command.delivery, command.command, command.user,
             command.repo, command.pr_number, verb, len(decision.requests))
    return verb


def _acknowledgement(command: CommandRequest, team: Team, decision: Decision) -> str:
    """A reply to an allowed command only where nothing else on GitHub shows it was taken: a team
    without checks (with checks, the new or cancelled check runs are the answer)."""
    if team.github.checks or not decision.requests:
        return ""
    targets = ", ".join(f"{t.stack}/{t.app}" for t in command.targets)
    done = "cancelling the runs of" if command.action == "cancel" else "running again"
    return f"@{command.user} `{_shown(command.command)}`: {done} {targets}."


def _shown(text: str) -> str:
    """A commented command echoed in a code span: no backticks to break out of it, short."""
    return text.replace("`", "'")[:60]


def _event_id(command: CommandRequest, stack: str, app: str) -> str:
    return catalog.derived_id(command.delivery, command.team, stack, app)
