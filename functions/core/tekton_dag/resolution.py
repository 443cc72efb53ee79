"""What a GitHub event (or a manual request) asks for, decided without any I/O.

``resolve`` takes a normalised ``GitHubEvent`` and the resolver index of the loaded configuration,
and returns one decision per (team, stack, app) the repository belongs to:

- pull request opened / synchronize / reopened / ready_for_review → ``RunRequest`` (stack-pr-test)
- pull request closed and merged → ``RunRequest`` (stack-merge-release, at the merge commit)
- pull request closed unmerged → ``CancelRequest`` for that PR's runs
- push to a branch → the team's ``push`` policy: ``ignore`` (default) or ``merge-release``
- merge group checks_requested → ``RunRequest`` (stack-pr-test on the group's head sha, identified
  by the group's head ref and sha); destroyed → ``CancelRequest`` for that group's runs
- check_run rerequested (our check: ``tekton-dag / <stack> (<app>)``) → ``RunRequest`` for that
  target; check_suite rerequested → one for every target of the head; both with ``rerun`` set to
  the delivery, so a re-run is a new PipelineRun and its redelivery is not
- a command on a PR → ``CommandRequest`` per team (the targets it selects, or the reply for a
  malformed one): status-reporter authorises it, since only it holds GitHub credentials
- anything filtered out → ``Ignored`` with the reason, so nothing ends silently.

Team filters (``team.yaml`` ``pullRequests``): ``baseBranches`` globs (fnmatch, case-sensitive;
they also select which pushed branches release), ``skipDrafts`` and ``forks``. Drafts and forks
only stop PR tests: closing a draft still cancels, and merging a fork's PR still releases (the code
is on the base branch by then).

Webhook secret scope: ``signed_for`` is the team whose own secret verified the delivery ("" for a
shared secret, which the platform holds and which reaches every team). A delivery signed with a
team's secret reaches that team's targets only: a team's secret cannot start another team's runs.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from tekton_dag import pipelines
from tekton_dag.config.models import App, Config, Stack, Team
from tekton_dag.events import catalog, github
from tekton_dag.events.github import GitHubEvent, MergeGroup, PullRequest, Push, Rerun
from tekton_dag.events.requests import (
    BootstrapRequest,
    CancelRequest,
    CommandRequest,
    CommandTarget,
    PullRequestRef,
    RequestError,
    RunRequest,
)

# A merge queue's branch: gh-readonly-queue/<base>/pr-<number>-<base sha> (the merge_group examples of
# @octokit/webhooks-examples; docs.github.com/en/repositories/configuring-branches-and-merges-in-your-
# repository/configuring-pull-request-merges/managing-a-merge-queue). The number is the PR the group
# ends with: the pipeline's pr-number (its workloads' names, post-result).
MERGE_QUEUE_PREFIX: Final = "gh-readonly-queue/"  # the merge queue's temporary branches
_QUEUE_PR: Final = re.compile(
    rf"refs/heads/{re.escape(MERGE_QUEUE_PREFIX)}.+/pr-([1-9][0-9]{{0,9}})-[0-9a-f]{{40}}(?:[0-9a-f]{{24}})?")

START_ACTIONS = ("opened", "synchronize", "reopened", "ready_for_review")


class Target(Protocol):
    """One app of one stack of one team (``tekton_dag.config.index.Target``)."""

    @property
    def team(self) -> Team: ...
    @property
    def stack(self) -> Stack: ...
    @property
    def app(self) -> App: ...


class Index(Protocol):
    def lookup(self, repo: str) -> tuple[Target, ...]: ...


@dataclass(frozen=True)
class Ignored:
    reason: str
    team: str = ""
    stack: str = ""
    app: str = ""


Request = RunRequest | CancelRequest | CommandRequest


class ParsedCommand(Protocol):
    """A parsed PR command (``checks.commands.Command``)."""

    @property
    def action(self) -> str: ...
    @property
    def scope(self) -> str: ...
    def selects(self, stack: str, app: str) -> bool: ...


# ``checks.commands.parse``: a command line → the command; raises ValueError whose text is the reply.
CommandParser = Callable[[str], ParsedCommand]


@dataclass(frozen=True)
class Decision:
    """One outcome; ``event_id`` is derived from the delivery, so a redelivery repeats it."""

    event_id: str
    outcome: Request | Ignored


def resolve(event: GitHubEvent, index: Index, *, signed_for: str = "",
            parse_command: CommandParser | None = None) -> tuple[Decision, ...]:
    """``parse_command`` reads a PR comment's command (needed for ``issue_comment`` events)."""
    targets = index.lookup(event.repo)
    if not targets:
        reason = f"repository {event.repo} is not an app of any stack"
        return (Decision(catalog.derived_id(event.delivery, "ignored"), Ignored(reason)),)
    if event.comment is not None:
        if parse_command is None:
            raise TypeError("resolve: an issue_comment needs parse_command")
        return _command(event, targets, signed_for, parse_command)
    return tuple(_decide(event, target, signed_for) for target in targets)


def _decide(event: GitHubEvent, target: Target, signed_for: str) -> Decision:
    team = target.team
    event_id = catalog.derived_id(event.delivery, team.name, target.stack.name, target.app.name)
    outcome: Request | Ignored | str
    if signed_for and signed_for != team.name:
        outcome = f"delivery was signed with the webhook secret of team {signed_for}, not of team {team.name}"
    elif event.pull_request is not None:
        outcome = _pull_request(event, event.pull_request, target)
    elif event.merge_group is not None:
        outcome = _merge_group(event, event.merge_group, target)
    elif event.rerun is not None:
        outcome = _rerun(event, event.rerun, target)
    else:
        assert event.push is not None
        outcome = _push(event, event.push, target)
    if isinstance(outcome, str):
        outcome = Ignored(outcome, team.name, target.stack.name, target.app.name)
    return Decision(event_id, outcome)


def _pull_request(event: GitHubEvent, pr: PullRequest, target: Target) -> Request | str:
    team = target.team
    filters = team.pull_requests
    if not branch_selected(pr.base_ref, filters.base_branches):
        return f"base branch {pr.base_ref} does not match team {team.name}'s pullRequests.baseBranches"
    ref = PullRequestRef(pr.number, pr.head_sha, pr.base_ref, pr.head_ref, pr.before)
    if pr.action == "closed" and pr.merged:
        return _run(event, target, pipelines.MERGE_RELEASE, pr.merge_commit_sha or pr.head_sha, ref)
    if pr.action == "closed":
        return CancelRequest(team.name, target.stack.name, target.app.name, pr.number, "closed", event.delivery)
    if pr.action not in START_ACTIONS:
        return f"pull_request action {pr.action} starts nothing"
    if pr.draft and filters.skip_drafts:
        return f"pull request #{pr.number} is a draft and team {team.name} skips drafts"
    if pr.fork and filters.forks == "skip":
        return (
            f"pull request #{pr.number} comes from fork {pr.head_repo or '(deleted)'} and team {team.name} skips forks"
        )
    return _run(event, target, pipelines.PR_TEST, pr.head_sha, ref)


def _push(event: GitHubEvent, push: Push, target: Target) -> Request | str:
    team = target.team
    if team.push == "ignore":
        return f"team {team.name}'s push policy is ignore"
    if push.branch is None:
        return f"{push.ref} is not a branch"
    if push.deleted:
        return f"branch {push.branch} was deleted"
    if push.branch.startswith(MERGE_QUEUE_PREFIX):
        # GitHub's merge queue pushes each group to a temporary branch: code not merged yet, which
        # its merge_group event tests. Released, it would ship whatever the queue later drops.
        return f"branch {push.branch} is a merge queue's temporary branch (its merge_group event tests it)"
    if not branch_selected(push.branch, team.pull_requests.base_branches):
        return f"branch {push.branch} does not match team {team.name}'s pullRequests.baseBranches"
    return _run(event, target, pipelines.MERGE_RELEASE, push.after, None)


def _merge_group(event: GitHubEvent, group: MergeGroup, target: Target) -> Request | str:
    team = target.team
    if not branch_selected(group.base_branch, team.pull_requests.base_branches):
        branch = group.base_branch
        return f"merge group base branch {branch} does not match team {team.name}'s pullRequests.baseBranches"
    found = _QUEUE_PR.fullmatch(group.head_ref)
    if found is None:
        return f"merge group ref {group.head_ref} is not a merge queue branch (gh-readonly-queue/<base>/pr-<n>-<sha>)"
    number = int(found[1])
    if group.action == "destroyed":
        return CancelRequest(team.name, target.stack.name, target.app.name, number,
                             f"merge group {group.reason or 'destroyed'}", event.delivery, merge_group=group.head_ref)
    ref = PullRequestRef(number, group.head_sha, group.base_branch, group.head_ref.removeprefix("refs/heads/"))
    return dataclasses.replace(_run(event, target, pipelines.PR_TEST, group.head_sha, ref), merge_group=group.head_ref)


def _rerun(event: GitHubEvent, rerun: Rerun, target: Target) -> Request | str:
    team = target.team
    outdated = github.outdated_reason(event)  # status-reporter settles its checks (usecases.declining)
    if outdated is not None:
        return outdated
    if event.name == github.CHECK_RUN:
        checked = github.check_target(rerun.check_name)
        if checked is None:
            return f"check run {rerun.check_name!r} is not a tekton-dag check"
        if checked != (target.stack.name, target.app.name):
            return f"the re-run check is {checked[0]}/{checked[1]}'s, not this target's"
    if not rerun.pr_number:
        return (f"GitHub lists no pull request of {event.repo} for head {rerun.head_sha[:12]} (a fork's pull "
                "request, or a merge group): comment /retest on the pull request instead")
    if not branch_selected(rerun.base_ref, team.pull_requests.base_branches):
        return f"base branch {rerun.base_ref} does not match team {team.name}'s pullRequests.baseBranches"
    ref = PullRequestRef(rerun.pr_number, rerun.head_sha, rerun.base_ref)
    return dataclasses.replace(_run(event, target, pipelines.PR_TEST, rerun.head_sha, ref), rerun=event.delivery)


def _command(event: GitHubEvent, targets: tuple[Target, ...], signed_for: str,
             parse: CommandParser) -> tuple[Decision, ...]:
    """One ``CommandRequest`` per team with targets the command selects; when it selects none, or
    is malformed, one carrying the reply (for the first team in scope)."""
    comment = event.comment
    assert comment is not None
    scoped = [t for t in targets if not signed_for or signed_for == t.team.name]
    if not scoped:
        return tuple(_decide(event, target, signed_for) for target in targets)  # each says why
    try:
        command, error = parse(comment.command), ""
    except ValueError as exc:
        command, error = None, str(exc)
    by_team: dict[str, list[CommandTarget]] = {}
    for target in scoped:
        if command is not None and command.selects(target.stack.name, target.app.name):
            by_team.setdefault(target.team.name, []).append(CommandTarget(target.stack.name, target.app.name))
    if command is not None and not by_team:
        known = ", ".join(sorted({f"{t.stack.name}/{t.app.name}" for t in scoped}))
        shown = comment.command.replace("`", "'")[:60]
        error = (f"`{shown}` selects nothing: repository {event.repo} is built as {known} "
                 "(stack/app). Use `/retest <app>` or `/test <stack>/<app>` with one of them.")
    if error:
        by_team = {scoped[0].team.name: []}
    action = command.action if command is not None and not error else ""
    return tuple(
        Decision(catalog.derived_id(event.delivery, team, "command"), CommandRequest(
            team=team, repo=event.repo, pr_number=comment.number, user=comment.user, command=comment.command,
            action=action, delivery=event.delivery, comment_id=comment.comment_id,
            installation_id=event.installation_id, targets=tuple(selected), error=error,
        ))
        for team, selected in by_team.items()
    )


def _run(event: GitHubEvent, target: Target, pipeline: str, revision: str, pr: PullRequestRef | None) -> RunRequest:
    return RunRequest(
        team=target.team.name, stack=target.stack.name, pipeline=pipeline, delivery=event.delivery,
        app=target.app.name, repo=event.repo, revision=revision, pr=pr, requested_by="github",
        installation_id=event.installation_id,
    )


def branch_selected(branch: str, globs: tuple[str, ...]) -> bool:
    return not globs or any(fnmatch.fnmatchcase(branch, glob) for glob in globs)


# --- Manual requests (webhook-ingest's REST API) -------------------------------------------

def manual_run(config: Config, body: Any, delivery: str) -> RunRequest:
    """A run request from ``POST /api/run``; raises ``RequestError`` naming what is wrong.

    ``pipeline`` defaults to stack-pr-test when ``pr`` is given, else stack-merge-release.
    """
    if not isinstance(body, Mapping):
        raise RequestError("body: must be a JSON object")
    if "installation_id" in body:  # which GitHub App installation acts is GitHub's to say, not a caller's
        raise RequestError("installation_id: unknown field")
    fields = {"pipeline": pipelines.PR_TEST if body.get("pr") else pipelines.MERGE_RELEASE, **body,
              "delivery": delivery, "requested_by": "api"}
    request = RunRequest.from_data(fields)
    team = _known_team(config, request.team)
    stack = team.stack(request.stack)
    if stack is None:
        raise RequestError(f"stack: team {team.name} has no stack {request.stack!r}")
    named = [("app", request.app)] if request.app else []
    for field_name, app_name in named + [("build_apps", name) for name in request.build_apps]:
        if stack.app(app_name) is None:
            raise RequestError(f"{field_name}: stack {stack.name} has no app {app_name!r}")
    changed = stack.app(request.app) if request.app else None
    if changed is not None and not request.repo:
        request = dataclasses.replace(request, repo=changed.repo)
    return request


def manual_bootstrap(config: Config, body: Any, apps: tuple[str, ...], delivery: str) -> BootstrapRequest:
    """A bootstrap request from ``POST /api/bootstrap?apps=a,b``; raises ``RequestError``."""
    if not isinstance(body, Mapping):
        raise RequestError("body: must be a JSON object")
    fields = {**body, "delivery": delivery, "requested_by": "api"}
    if apps:
        fields["apps"] = list(apps)
    request = BootstrapRequest.from_data(fields)
    team = _known_team(config, request.team)
    stacks = (team.stack(request.stack),) if request.stack else team.stacks
    if None in stacks:
        raise RequestError(f"stack: team {team.name} has no stack {request.stack!r}")
    known = {app.name for stack in stacks if stack for app in stack.apps}
    unknown = [app for app in request.apps if app not in known]
    if unknown:  # all of them at once: a caller fixing a list should not learn it one name per request
        names = ", ".join(repr(app) for app in unknown)
        where = f"team {team.name}" + (f" stack {request.stack}" if request.stack else "")
        raise RequestError(f"apps: {names} {'is not an app' if len(unknown) == 1 else 'are not apps'} of {where}")
    return request


def _known_team(config: Config, name: str) -> Team:
    team = config.team(name)
    if team is None:
        known = ", ".join(t.name for t in config.teams) or "none"
        raise RequestError(f"team: {name!r} is not configured (known: {known})")
    return team
