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

Exactly once per comment delivery: the requests' event ids are ``<delivery>/<team>/<stack>/<app>``
and a re-run's PipelineRun name derives from the delivery id (``pipelineruns.naming.identity``), so
a redelivered ``command.requested`` (or a Broker retry) publishes the same events again and
run-creator creates nothing new. A refused command's reply is not deduplicated: a redelivery may
post it again (GitHub redelivers only when asked to).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from cloudevents.core.v1.event import CloudEvent

from tekton_dag import pipelines, resolution
from tekton_dag.config.models import Team
from tekton_dag.events import catalog, codec
from tekton_dag.events.requests import CancelRequest, CommandRequest, PullRequestRef, RunRequest
from tekton_dag.github.port import GitHub, GitHubError, Permission, Repo

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
    head_sha, base_ref = await github.pull_request_head(repo, command.pr_number)
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


def _shown(text: str) -> str:
    """A commented command echoed in a code span: no backticks to break out of it, short."""
    return text.replace("`", "'")[:60]


def _event_id(command: CommandRequest, stack: str, app: str) -> str:
    return catalog.derived_id(command.delivery, command.team, stack, app)
