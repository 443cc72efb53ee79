"""What the rest of tekton-dag asks of GitHub: the contract between status-reporter and the client.

The use cases (``usecases``) and the commands depend on this Protocol only; the client in this
package implements it against the REST API, and tests may drive the use cases with any object of
the same shape. Values follow GitHub's REST API names (``status``, ``conclusion``, commit status
``state``) so nothing is translated twice; those value types live with the check decisions
(``checks.states``, the layer below) and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

from tekton_dag.checks.states import CheckConclusion, CheckStatus, CommitState

Permission = Literal["admin", "maintain", "write", "triage", "read", "none"]
Mode = Literal["checks", "statuses"]


@dataclass(frozen=True, slots=True)
class Repo:
    """A repository and the GitHub App installation that may act on it (None: token auth)."""

    owner: str
    name: str
    installation_id: int | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True, slots=True)
class CheckOutput:
    """A check run's ``output`` (title and Markdown summary) and its ``details_url``."""

    title: str
    summary: str
    details_url: str | None = None


class GitHubError(Exception):
    """GitHub refused or could not be reached within the deadline; ``retryable`` says whether later may work."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class PullRequestHead(NamedTuple):
    sha: str
    base_ref: str
    open: bool  # GitHub's ``state``: "open", else "closed" (merged or not)


class CheckRun(NamedTuple):
    """A check run as GitHub lists it: what a settled re-run keeps of it."""

    id: int
    name: str
    status: str  # queued | in_progress | completed (| waiting, requested, pending: GitHub Actions only)
    conclusion: str | None  # GitHub's, including the ones tekton-dag never sets (neutral, stale, ...)
    title: str
    summary: str


class GitHub(Protocol):
    """The calls status-reporter and the commands make. Every method raises ``GitHubError`` on failure."""

    @property
    def mode(self) -> Mode:
        """``checks`` with a GitHub App; ``statuses`` (commit statuses) with a plain token."""
        ...

    def mode_for(self, repo: Repo) -> Mode:
        """How ``repo``'s run is shown: ``checks`` when an App installation acts on it, ``statuses``
        when the plain token does (only GitHub Apps may use the Checks API)."""
        ...

    async def create_check_run(self, repo: Repo, *, name: str, head_sha: str, external_id: str,
                               status: CheckStatus, conclusion: CheckConclusion | None,
                               output: CheckOutput) -> int:
        """POST /repos/{owner}/{repo}/check-runs; returns the check run's id."""
        ...

    async def update_check_run(self, repo: Repo, check_run_id: int, *, status: CheckStatus,
                               conclusion: CheckConclusion | None, output: CheckOutput) -> None:
        """PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}."""
        ...

    async def suite_check_runs(self, repo: Repo, check_suite_id: int, *, name: str | None = None) -> list[CheckRun]:
        """GET /repos/{owner}/{repo}/check-suites/{check_suite_id}/check-runs: the suite's newest check
        run of each name (GitHub's ``filter=latest``), every page of them; with ``name``, only the
        newest of that name (GitHub's ``check_name``: "Returns check runs with the specified `name`")."""
        ...

    async def set_commit_status(self, repo: Repo, sha: str, *, state: CommitState, context: str,
                                description: str, target_url: str | None) -> None:
        """POST /repos/{owner}/{repo}/statuses/{sha} (the token fallback for check runs)."""
        ...

    async def comment(self, repo: Repo, issue_number: int, body: str) -> None:
        """POST /repos/{owner}/{repo}/issues/{issue_number}/comments."""
        ...

    async def permission(self, repo: Repo, user: str) -> Permission:
        """GET /repos/{owner}/{repo}/collaborators/{username}/permission → ``permission`` (callers cache it)."""
        ...

    async def pull_request_head(self, repo: Repo, number: int) -> PullRequestHead:
        """GET /repos/{owner}/{repo}/pulls/{pull_number} → its head sha, base ref and whether it is open."""
        ...


__all__ = ["CheckConclusion", "CheckOutput", "CheckRun", "CheckStatus", "CommitState", "GitHub", "GitHubError", "Mode",
           "Permission", "PullRequestHead", "Repo"]
