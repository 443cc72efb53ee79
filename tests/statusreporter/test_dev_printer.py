"""`tekton-dag dev` prints each GitHub call the API double answers: what was asked, GitHub's status, and
why when it refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.githubapi import app_client
from tekton_dag.cli.dev import describe_github_call
from tekton_dag.github.port import CheckOutput, GitHubError, Repo
from tekton_dag.testing.github_api import Call, GitHubApiDouble


async def test_each_answered_call_is_one_line_naming_the_operation_and_the_check(tmp_path: Path) -> None:
    seen: list[Call] = []
    with GitHubApiDouble(on_call=seen.append) as github:
        client = app_client(github)
        repo = Repo("jmjava", "tekton-dag-vue-fe", installation_id=1001)
        check = await client.create_check_run(repo, name="tekton-dag / stack-one (demo-fe)", head_sha="a" * 40,
                                              external_id="run-1", status="queued", conclusion=None,
                                              output=CheckOutput("Queued", "waiting"))
        await client.update_check_run(repo, check, status="completed", conclusion="success",
                                      output=CheckOutput("Succeeded", "done"))
        with pytest.raises(GitHubError):
            await client.update_check_run(repo, check + 1000, status="in_progress", conclusion=None,
                                          output=CheckOutput("Started", "running"))
        await client.aclose()
    assert [describe_github_call(c) for c in seen] == [
        "github POST /app/installations/1001/access_tokens → 201 apps/create-installation-access-token",
        "github POST /repos/jmjava/tekton-dag-vue-fe/check-runs → 201 checks/create: "
        "tekton-dag / stack-one (demo-fe) queued",
        f"github PATCH /repos/jmjava/tekton-dag-vue-fe/check-runs/{check} → 200 checks/update: completed/success",
        f"github PATCH /repos/jmjava/tekton-dag-vue-fe/check-runs/{check + 1000} → 404 checks/update: Not Found",
    ]
