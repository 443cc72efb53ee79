"""GitHub API double helpers: the repos and credentials the GitHub tests use, clients of the double."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from tekton_dag.github.client import Client
from tekton_dag.github.port import Repo
from tekton_dag.github.settings import AppCredentials, Settings
from tekton_dag.testing.github_api import TEST_NOTIFICATION_INTERVAL_S, TEST_WRITE_INTERVAL_S, GitHubApiDouble

REPO = Repo("Codertocat", "Hello-World", installation_id=1001)
OTHER = Repo("payments-org", "api", installation_id=2002)
PLAIN_TOKEN = "ghp_plaintokenfortests"


def started_double() -> Iterator[GitHubApiDouble]:
    double = GitHubApiDouble(installations={1001: {"Codertocat/Hello-World"}, 2002: None},
                             plain_tokens={PLAIN_TOKEN})
    with double:
        yield double


_opened: list[Client] = []  # closed by ``clients_closed`` when the test that made them ends


def app_client(github: GitHubApiDouble, deadline_s: float = 5.0,
               write_interval_s: float = TEST_WRITE_INTERVAL_S) -> Client:
    return _kept(Client(Settings(api_url=github.url, app=AppCredentials(github.app_id, github.private_key_pem),
                                 deadline_s=deadline_s, write_interval_s=write_interval_s,
                                 notification_interval_s=TEST_NOTIFICATION_INTERVAL_S)))


def token_client(github: GitHubApiDouble, deadline_s: float = 5.0) -> Client:
    return _kept(Client(Settings(api_url=github.url, token=PLAIN_TOKEN, deadline_s=deadline_s,
                                 write_interval_s=TEST_WRITE_INTERVAL_S,
                                 notification_interval_s=TEST_NOTIFICATION_INTERVAL_S)))


def env_client(env: dict[str, str]) -> Client:
    """The client ``Client.from_env`` makes of ``env`` (``environment``), as status-reporter makes it."""
    client = Client.from_env(env)
    assert client is not None, "the environment configures no GitHub access"
    return _kept(client)


def _kept(client: Client) -> Client:
    _opened.append(client)
    return client


async def clients_closed() -> AsyncIterator[None]:
    """Fixture body: close every client ``app_client``/``token_client`` made during the test, on the test's
    own loop, so their aiohttp sessions do not end as "Unclosed client session" warnings."""
    yield
    while _opened:
        await _opened.pop().aclose()


INSTALLATION = 1001  # the double's default installation, covering every repository

CALL_NAMES = {"checks/create": "create_check_run", "checks/update": "update_check_run",
              "repos/create-commit-status": "set_commit_status", "issues/create-comment": "comment"}


def environment(github: GitHubApiDouble, directory: Path, *, app: bool = True, token: str | None = None,
                deadline_s: float | None = None, write_interval_s: float = TEST_WRITE_INTERVAL_S,
                notification_interval_s: float = TEST_NOTIFICATION_INTERVAL_S) -> dict[str, str]:
    """The variables ``github.settings`` reads, pointing at ``github`` (the App's key written under ``directory``)."""
    env = {"GITHUB_API_URL": github.url, "GITHUB_WRITE_INTERVAL_SECONDS": str(write_interval_s),
           "GITHUB_NOTIFICATION_INTERVAL_SECONDS": str(notification_interval_s)}
    if app:
        key = directory / "github-app.pem"
        key.write_text(github.private_key_pem)
        env.update(GITHUB_APP_ID=github.app_id, GITHUB_APP_PRIVATE_KEY_FILE=str(key))
    if token:
        token_file = directory / "github-token"
        token_file.write_text(token)
        env["GITHUB_TOKEN_FILE"] = str(token_file)
    if deadline_s is not None:
        env["GITHUB_API_DEADLINE_SECONDS"] = str(deadline_s)
    return env


def check_calls(github: GitHubApiDouble) -> list[dict[str, Any]]:
    """The check run, commit status and comment calls the double answered with success, in order, each
    as ``{"call": create_check_run | update_check_run | set_commit_status | comment, "repo", "id", ...the
    request's fields}`` (output's title and summary flattened)."""
    found = []
    for call in list(github.calls):
        name = CALL_NAMES.get(call.operation)
        if name is None or not 200 <= call.status < 300:
            continue
        body = dict(call.body or {})
        output = body.pop("output", None) or {}
        owner, repo = call.path.split("/")[2:4]
        answer = call.answer if isinstance(call.answer, dict) else {}
        found.append({"call": name, "repo": f"{owner}/{repo}", "id": answer.get("id"), "conclusion": None,
                      "details_url": None, **body, "title": output.get("title"), "summary": output.get("summary")})
    return found
