"""GitHub API double helpers: the repos and credentials the GitHub tests use, clients of the double."""

from __future__ import annotations

from collections.abc import Iterator

from tekton_dag.github.client import Client
from tekton_dag.github.port import Repo
from tekton_dag.github.settings import AppCredentials, Settings
from tekton_dag.testing.github_api import GitHubApiDouble

REPO = Repo("Codertocat", "Hello-World", installation_id=1001)
OTHER = Repo("payments-org", "api", installation_id=2002)
PLAIN_TOKEN = "ghp_plaintokenfortests"


def started_double() -> Iterator[GitHubApiDouble]:
    double = GitHubApiDouble(installations={1001: {"Codertocat/Hello-World"}, 2002: None},
                             plain_tokens={PLAIN_TOKEN})
    with double:
        yield double


def app_client(github: GitHubApiDouble, deadline_s: float = 5.0) -> Client:
    return Client(Settings(api_url=github.url, app=AppCredentials(github.app_id, github.private_key_pem),
                           deadline_s=deadline_s))


def token_client(github: GitHubApiDouble, deadline_s: float = 5.0) -> Client:
    return Client(Settings(api_url=github.url, token=PLAIN_TOKEN, deadline_s=deadline_s))
