"""usecases.commanding.authorise against a small fake of the GitHub port: who may command, what a
command leads to, and that a redelivered command leads to the same requests (no new PipelineRun)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tekton_dag import pipelines
from tekton_dag.config.loading import load_config
from tekton_dag.config.models import CommandSettings, Team
from tekton_dag.events.requests import CancelRequest, CommandRequest, CommandTarget, RunRequest
from tekton_dag.github.port import (
    CheckConclusion,
    CheckOutput,
    CheckStatus,
    CommitState,
    GitHubError,
    Permission,
    PullRequestHead,
    Repo,
)
from tekton_dag.pipelineruns.naming import run_name
from tekton_dag.testing.github import write_teams
from tekton_dag.usecases.commanding import PermissionCache, authorise

HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


class FakeGitHub:
    """The port's read calls, answered from dicts; counts them. Raises like the client would."""

    mode = "checks"

    def __init__(self, permissions: dict[str, Permission], head: tuple[str, str] = (HEAD, "master")):
        self.permissions, self.head = permissions, head
        self.calls: list[tuple[str, ...]] = []

    def mode_for(self, repo: Repo) -> str:
        return self.mode

    async def permission(self, repo: Repo, user: str) -> Permission:
        self.calls.append(("permission", repo.full_name, user))
        if user not in self.permissions:
            raise GitHubError("Not Found", status=404)
        return self.permissions[user]

    async def pull_request_head(self, repo: Repo, number: int) -> PullRequestHead:
        self.calls.append(("pull_request_head", repo.full_name, str(number)))
        return PullRequestHead(*self.head, True)

    async def comment(self, repo: Repo, issue_number: int, body: str) -> None:
        raise AssertionError("authorise never comments: the caller posts the reply")

    async def create_check_run(self, repo: Repo, *, name: str, head_sha: str, external_id: str,
                               status: CheckStatus, conclusion: CheckConclusion | None, output: CheckOutput) -> int:
        raise AssertionError("not a command's call")

    async def update_check_run(self, repo: Repo, check_run_id: int, *, status: CheckStatus,
                               conclusion: CheckConclusion | None, output: CheckOutput) -> None:
        raise AssertionError("not a command's call")

    async def set_commit_status(self, repo: Repo, sha: str, *, state: CommitState, context: str,
                                description: str, target_url: str | None) -> None:
        raise AssertionError("not a command's call")


@pytest.fixture
def team(tmp_path: Path) -> Team:
    result = load_config(write_teams(tmp_path / "teams"))
    assert result.config is not None
    found = result.config.team("platform")
    assert found is not None
    return found


def command(action: str = "retest", user: str = "writer", error: str = "",
            delivery: str = "comment-1") -> CommandRequest:
    return CommandRequest(
        team="platform", repo="Codertocat/Hello-World", pr_number=2, user=user, command=f"/{action or 'test x'}",
        action=action, delivery=delivery, comment_id=7, installation_id=1,
        targets=(CommandTarget("web", "hello"),) if action else (), error=error,
    )


async def test_a_writer_retests_the_pr_head(team: Team) -> None:
    github = FakeGitHub({"writer": "write"})
    decision = await authorise(command(), github, team, permissions=PermissionCache())
    [(event_id, request)] = decision.requests
    assert event_id == "comment-1/platform/web/hello" and not decision.reply
    assert isinstance(request, RunRequest) and request.pipeline == pipelines.PR_TEST
    assert (request.revision, request.pr.number, request.pr.base_ref) == (HEAD, 2, "master")  # type: ignore[union-attr]
    assert request.rerun == "comment-1"
    assert ("permission", "Codertocat/Hello-World", "writer") in github.calls


async def test_a_redelivered_comment_makes_the_same_requests_even_after_a_push(team: Team) -> None:
    first = await authorise(command(), FakeGitHub({"writer": "admin"}), team, permissions=PermissionCache())
    moved = FakeGitHub({"writer": "admin"}, head=("1" * 40, "master"))
    again = await authorise(command(), moved, team, permissions=PermissionCache())
    [(first_id, first_run)], [(again_id, again_run)] = first.requests, again.requests
    assert first_id == again_id
    assert isinstance(first_run, RunRequest) and isinstance(again_run, RunRequest)
    assert run_name(first_run) == run_name(again_run)  # run-creator finds it exists: nothing new
    other = await authorise(command(delivery="comment-2"), moved, team, permissions=PermissionCache())
    assert run_name(other.requests[0][1]) != run_name(first_run)  # type: ignore[arg-type]


@pytest.mark.parametrize("permission", ["read", "triage", "none"])
async def test_a_reader_is_refused_with_a_reply(team: Team, permission: Permission) -> None:
    github = FakeGitHub({"reader": permission})
    decision = await authorise(command(user="reader"), github, team, permissions=PermissionCache())
    assert decision.requests == ()
    assert decision.reply.startswith("@reader `/retest` was not run: it needs write permission on ")
    assert f"(yours: {permission})" in decision.reply and "commands.users" in decision.reply
    assert all(call[0] != "pull_request_head" for call in github.calls)


async def test_a_stranger_is_refused_too(team: Team) -> None:
    decision = await authorise(command(user="stranger"), FakeGitHub({}), team, permissions=PermissionCache())
    assert "(yours: none)" in decision.reply


async def test_a_listed_user_needs_no_permission_call(team: Team) -> None:
    listed = dataclasses.replace(team, commands=CommandSettings(users=("Friendly-Bot",)))
    github = FakeGitHub({})
    decision = await authorise(command(user="friendly-bot"), github, listed, permissions=PermissionCache())
    assert len(decision.requests) == 1 and github.calls == [("pull_request_head", "Codertocat/Hello-World", "2")]


async def test_cancel_needs_no_head(team: Team) -> None:
    github = FakeGitHub({"writer": "maintain"})
    decision = await authorise(command("cancel"), github, team, permissions=PermissionCache())
    [(_, request)] = decision.requests
    assert isinstance(request, CancelRequest) and request.reason == "/cancel by writer" and request.pr_number == 2
    assert [c[0] for c in github.calls] == ["permission"]


async def test_a_malformed_command_is_answered_without_asking_github(team: Team) -> None:
    github = FakeGitHub({})
    decision = await authorise(command("", error="`/test` needs one `<stack>/<app>`."), github, team,
                               permissions=PermissionCache())
    assert decision.reply == "@writer `/test` needs one `<stack>/<app>`." and github.calls == []


async def test_a_base_branch_the_team_does_not_test_is_refused(team: Team) -> None:
    github = FakeGitHub({"writer": "write"}, head=(HEAD, "develop"))
    decision = await authorise(command(), github, team, permissions=PermissionCache())
    assert decision.requests == () and "base branch develop of #2" in decision.reply


async def test_the_permission_is_cached_briefly(team: Team) -> None:
    now = [0.0]
    cache = PermissionCache(ttl=60, clock=lambda: now[0])
    github = FakeGitHub({"writer": "write"})
    for _ in range(3):
        await authorise(command(), github, team, permissions=cache)
    assert [c[0] for c in github.calls].count("permission") == 1
    now[0] = 61
    github.permissions["writer"] = "read"  # revoked: noticed once the entry expired
    decision = await authorise(command(), github, team, permissions=cache)
    assert decision.reply and [c[0] for c in github.calls].count("permission") == 2


async def test_github_failing_is_raised_for_a_retry(team: Team) -> None:
    class Down(FakeGitHub):
        async def permission(self, repo: Repo, user: str) -> Permission:
            raise GitHubError("secondary rate limit", status=403, retryable=True)

    with pytest.raises(GitHubError):
        await authorise(command(), Down({}), team, permissions=PermissionCache())
