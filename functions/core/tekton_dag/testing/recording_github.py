"""A recording ``github.port.GitHub``: status-reporter's GitHub in tests and in ``tekton-dag dev``.

It keeps every call (and, with ``log_path``, appends each as a JSON line, so a test can read what a
status-reporter in another process did), hands out check run ids, and can be told to fail. It is a
stand-in until the GitHub API double (validating against GitHub's OpenAPI description) replaces it;
it enforces only these rules of GitHub's REST API
(https://docs.github.com/en/rest/checks/runs, https://docs.github.com/en/rest/commits/statuses):

- ``conclusion`` is required when ``status`` is ``completed`` (and only then: "Providing conclusion
  will automatically set the status parameter to completed");
- ``output.title`` and ``output.summary`` are required, ``summary`` at most 65535 characters;
- a check run that was never created answers 404;
- a commit status ``state`` is one of error, failure, pending, success.

It does NOT model authentication, rate limits, repositories or commits that exist, check suites, or
that a newer check run of the same name hides an older one.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tekton_dag.github.port import (
    CheckConclusion,
    CheckOutput,
    CheckStatus,
    CommitState,
    GitHubError,
    Mode,
    Permission,
    Repo,
)

MAX_SUMMARY = 65535
LOG_ENV = "TEKTON_DAG_GITHUB_RECORD_FILE"  # `tekton-dag serve status-reporter` records to this file


@dataclass
class RecordingGitHub:
    """Implements ``GitHub``; ``calls`` holds ``{"call": name, ...arguments}`` in order."""

    mode_: Mode = "checks"
    log_path: Path | None = None
    delay: float = 0.0  # seconds each call takes (to let concurrent events overlap)
    calls: list[dict[str, Any]] = field(default_factory=list)
    failures: list[GitHubError] = field(default_factory=list)  # raised by the next calls, first first
    _next_id: int = 1000
    _checks: dict[int, str] = field(default_factory=dict)  # id -> repo full name
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def mode(self) -> Mode:
        return self.mode_

    async def create_check_run(self, repo: Repo, *, name: str, head_sha: str, external_id: str,
                               status: CheckStatus, conclusion: CheckConclusion | None,
                               output: CheckOutput) -> int:
        await self._enter()
        _check_run_rules(status, conclusion, output)
        if not name or not head_sha:
            raise GitHubError("422 name and head_sha are required", status=422)
        with self._lock:
            self._next_id += 1
            check_run_id = self._next_id
            self._checks[check_run_id] = repo.full_name
        self._record("create_check_run", repo, id=check_run_id, name=name, head_sha=head_sha,
                     external_id=external_id, status=status, conclusion=conclusion, **_output(output))
        return check_run_id

    async def update_check_run(self, repo: Repo, check_run_id: int, *, status: CheckStatus,
                               conclusion: CheckConclusion | None, output: CheckOutput) -> None:
        await self._enter()
        _check_run_rules(status, conclusion, output)
        if self._checks.get(check_run_id) != repo.full_name:
            raise GitHubError(f"404 check run {check_run_id} not found in {repo.full_name}", status=404)
        self._record("update_check_run", repo, id=check_run_id, status=status, conclusion=conclusion,
                     **_output(output))

    async def set_commit_status(self, repo: Repo, sha: str, *, state: CommitState, context: str,
                                description: str, target_url: str | None) -> None:
        await self._enter()
        if state not in ("error", "failure", "pending", "success"):
            raise GitHubError(f"422 state {state!r} is not valid", status=422)
        self._record("set_commit_status", repo, sha=sha, state=state, context=context, description=description,
                     target_url=target_url)

    async def comment(self, repo: Repo, issue_number: int, body: str) -> None:
        await self._enter()
        self._record("comment", repo, issue_number=issue_number, body=body)

    async def permission(self, repo: Repo, user: str) -> Permission:
        await self._enter()
        self._record("permission", repo, user=user)
        return "write"

    async def pull_request_head(self, repo: Repo, number: int) -> tuple[str, str]:
        await self._enter()
        self._record("pull_request_head", repo, number=number)
        return "0" * 40, "main"

    def of(self, call: str) -> list[dict[str, Any]]:
        """The recorded calls named ``call``."""
        return [c for c in self.calls if c["call"] == call]

    async def _enter(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)

    def _record(self, call: str, repo: Repo, **arguments: Any) -> None:
        entry = {"call": call, "repo": repo.full_name, "installation_id": repo.installation_id, **arguments}
        with self._lock:
            self.calls.append(entry)
            if self.log_path is not None:
                with self.log_path.open("a") as log:
                    log.write(json.dumps(entry) + "\n")


def read_log(path: Path) -> list[dict[str, Any]]:
    """The calls a ``RecordingGitHub`` in another process appended to ``path``."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _check_run_rules(status: CheckStatus, conclusion: CheckConclusion | None, output: CheckOutput) -> None:
    if (status == "completed") != (conclusion is not None):
        raise GitHubError(f"422 conclusion {conclusion!r} does not fit status {status!r}", status=422)
    if not output.title or not output.summary or len(output.summary) > MAX_SUMMARY:
        raise GitHubError("422 output.title and output.summary (at most 65535 characters) are required", status=422)


def _output(output: CheckOutput) -> dict[str, Any]:
    return {"title": output.title, "summary": output.summary, "details_url": output.details_url}
