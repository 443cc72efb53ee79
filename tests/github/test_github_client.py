"""The GitHub client against the GitHub API double, over real HTTP: auth, token cache, every fault kind."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from prometheus_client import REGISTRY

from support.githubapi import OTHER, PLAIN_TOKEN, REPO, app_client, token_client
from tekton_dag.github.auth import app_jwt
from tekton_dag.github.client import Client
from tekton_dag.github.port import CheckOutput, GitHubError
from tekton_dag.observability import metrics
from tekton_dag.testing.github_api import GitHubApiDouble

OUTPUT = CheckOutput("Queued", "Position 2 of the team's 3 slots", "https://dashboard.example/run/x")
SHA = "a" * 40


def installation_headers(github: GitHubApiDouble) -> dict[str, str]:
    """The headers of a call made with a fresh installation token of the default installation."""
    jwt_value = app_jwt(github.app_id, github.private_key_pem, time.time())
    token = httpx.post(f"{github.url}/app/installations/1001/access_tokens",
                       headers={"authorization": f"Bearer {jwt_value}"}).json()["token"]
    return {"authorization": f"token {token}"}


def calls(operation: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("tektondag_github_api_calls_total",
                                     {"operation": operation, "outcome": outcome}) or 0.0


async def create(client, repo=REPO) -> int:  # type: ignore[no-untyped-def]
    return int(await client.create_check_run(repo, name="tekton-dag / web (hello)", head_sha=SHA,
                                             external_id="web-hello-pr-1-abcde", status="queued", conclusion=None,
                                             output=OUTPUT))


async def test_app_flow_creates_and_completes_a_check_run(github: GitHubApiDouble) -> None:
    client = app_client(github)
    assert client.mode == "checks"
    run_id = await create(client)
    await client.update_check_run(REPO, run_id, status="completed", conclusion="success",
                                  output=CheckOutput("Succeeded", "3 tasks"))
    stored = github.check_runs[run_id]
    assert (stored["status"], stored["conclusion"], stored["external_id"]) == ("completed", "success",
                                                                             "web-hello-pr-1-abcde")
    assert [c.operation for c in github.calls] == [
        "apps/create-installation-access-token", "checks/create", "checks/update"]
    assert [c.credential for c in github.calls] == ["jwt", "installation", "installation"]
    assert not github.violations


async def test_fifty_concurrent_calls_fetch_one_token_per_installation(github: GitHubApiDouble) -> None:
    client = app_client(github)
    await asyncio.gather(*(create(client) for _ in range(50)), *(create(client, OTHER) for _ in range(5)))
    tokens = github.calls_to("apps/create-installation-access-token")
    assert len(tokens) == 2  # one per installation, not one per call
    assert len(github.calls_to("checks/create")) == 55
    await create(client)  # cached: no new token
    assert len(github.calls_to("apps/create-installation-access-token")) == 2


async def test_the_app_key_is_parsed_once_off_the_event_loop(github: GitHubApiDouble,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing the PEM is ~50 ms of CPU: once per client, in a thread, not for every App JWT."""
    from tekton_dag.github import auth

    parsed: list[bool] = []

    def load_key(pem: str) -> object:
        parsed.append(threading.current_thread() is threading.main_thread())
        return real_load_key(pem)

    real_load_key = auth.load_key
    monkeypatch.setattr(auth, "load_key", load_key)
    github.token_ttl_s = 200  # every call fetches a token, so signs a JWT
    client = app_client(github)
    await asyncio.gather(create(client), create(client, OTHER))
    await create(client)
    assert len(github.calls_to("apps/create-installation-access-token")) == 3
    assert parsed == [False]  # once, and not on the event loop's thread


async def test_a_token_near_expiry_is_refreshed(github: GitHubApiDouble) -> None:
    github.token_ttl_s = 200  # under the client's 5-minute margin: every call needs a fresh token
    client = app_client(github)
    await create(client)
    await create(client)
    assert len(github.calls_to("apps/create-installation-access-token")) == 2


async def test_plain_token_falls_back_to_commit_statuses(github: GitHubApiDouble) -> None:
    client = token_client(github)
    assert client.mode == "statuses"
    await client.set_commit_status(REPO, SHA, state="pending", context="tekton-dag / web (hello)",
                                   description="queued", target_url="https://dashboard.example/run/x")
    assert github.statuses[0]["state"] == "pending"
    assert github.calls[0].credential == "token"


@pytest.mark.parametrize(("role", "permission"), [("admin", "admin"), ("maintain", "write"), ("write", "write"),
                                                  ("triage", "read"), ("read", "read")])
async def test_permission_is_the_legacy_base_role_and_role_name_the_role(github: GitHubApiDouble, role: str,
                                                                         permission: str) -> None:
    """GitHub: "The `permission` attribute provides the legacy base roles of `admin`, `write`, `read`,
    and `none`, where the `maintain` role is mapped to `write` and the `triage` role is mapped to
    `read`" (repos/get-collaborator-permission-level in operations.json)."""
    github.set_permission(REPO.full_name, "someone", role)
    assert await app_client(github).permission(REPO, "someone") == permission
    answer = github.calls_to("repos/get-collaborator-permission-level")[-1].answer
    assert (answer["permission"], answer["role_name"]) == (permission, role)
    assert not github.violations


async def test_permission_asks_github_each_time_and_comments_post(github: GitHubApiDouble) -> None:
    # One cache, the commands' use case's (usecases.commanding.PermissionCache): the client keeps none.
    github.set_permission(REPO.full_name, "octocat", "write")
    client = app_client(github)
    assert await client.permission(REPO, "octocat") == "write"
    assert await client.permission(REPO, "octocat") == "write"
    assert await client.permission(REPO, "stranger") == "none"
    assert len(github.calls_to("repos/get-collaborator-permission-level")) == 3
    await client.comment(REPO, 1, "/retest refused: write permission needed")
    github.set_pull(REPO.full_name, 1, SHA, "master")
    assert await client.pull_request_head(REPO, 1) == (SHA, "master", True)
    github.set_pull(REPO.full_name, 1, SHA, "master", state="closed")
    assert await client.pull_request_head(REPO, 1) == (SHA, "master", False)
    assert github.comments[0]["body"].startswith("/retest refused")
    assert not github.violations


@pytest.mark.parametrize("kind", ["secondary", "429"])
async def test_rate_limit_with_retry_after_is_waited_then_retried(github: GitHubApiDouble, kind: str) -> None:
    github.fail(kind, match="check-runs", retry_after=1)
    client = app_client(github)
    before = calls("create_check_run", "rate_limited")
    started = time.monotonic()
    await create(client)
    assert time.monotonic() - started >= 1.0  # Retry-After honoured
    assert calls("create_check_run", "rate_limited") == before + 1
    assert [c.status for c in github.calls_to("checks/create")] == [403 if kind == "secondary" else 429, 201]


async def test_primary_limit_waits_for_reset_within_the_deadline(github: GitHubApiDouble) -> None:
    github.fail("primary", match="check-runs", retry_after=1)
    await create(app_client(github))
    assert [c.status for c in github.calls_to("checks/create")] == [403, 201]


async def test_a_secondary_limit_without_retry_after_beyond_the_deadline_gives_up_for_that_installation_only(
        github: GitHubApiDouble) -> None:
    github.fail("secondary", match="/Codertocat/")  # no Retry-After: GitHub says wait at least a minute
    client = app_client(github, deadline_s=3.0)
    before = calls("create_check_run", "gave_up")
    started = time.monotonic()
    with pytest.raises(GitHubError) as caught:
        await create(client)
    assert caught.value.retryable and time.monotonic() - started < 1.0  # at once: no minute of waiting
    with pytest.raises(GitHubError):  # held off: GitHub is not asked again
        await create(client)
    assert len(github.calls_to("checks/create")) == 1
    await create(client, OTHER)  # another team's installation is not held up
    assert calls("create_check_run", "gave_up") == before + 2


async def test_server_errors_are_retried_with_backoff(github: GitHubApiDouble) -> None:
    github.fail("502", times=2, match="check-runs")
    await create(app_client(github))
    assert [c.status for c in github.calls_to("checks/create")] == [502, 502, 201]


async def test_a_slow_answer_times_out_and_is_retried(github: GitHubApiDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tekton_dag.github.client.ATTEMPT_TIMEOUT_S", 0.3)
    github.fail("slow", match="check-runs", seconds=1.0)
    before = calls("create_check_run", "retried")
    await create(app_client(github))  # the second attempt answers at once
    assert calls("create_check_run", "retried") == before + 1


async def test_github_down_past_the_deadline_raises_a_retryable_error(github: GitHubApiDouble) -> None:
    client = app_client(github, deadline_s=1.5)
    await create(client)  # token cached
    github.down_for(5)
    started = time.monotonic()
    with pytest.raises(GitHubError) as caught:
        await create(client)
    assert caught.value.retryable
    assert time.monotonic() - started < 2.5


async def test_github_unreachable_is_retried_then_a_retryable_error() -> None:
    """Connection refused (nothing listens): retried like a timeout within the deadline, then given up."""
    from tekton_dag.github.settings import Settings
    from tekton_dag.testing.serving import free_port

    client = Client(Settings(api_url=f"http://127.0.0.1:{free_port()}", token=PLAIN_TOKEN, deadline_s=1.0))
    before = calls("comment", "gave_up")
    try:
        with pytest.raises(GitHubError) as caught:
            await client.comment(REPO, 1, "hello")
    finally:
        await client.aclose()
    assert caught.value.retryable
    assert calls("comment", "gave_up") == before + 1


async def test_a_refusal_is_not_retried(github: GitHubApiDouble) -> None:
    client = app_client(github)
    with pytest.raises(GitHubError) as caught:
        await client.update_check_run(REPO, 999, status="in_progress", conclusion=None, output=OUTPUT)
    assert (caught.value.status, caught.value.retryable) == (404, False)
    assert len(github.calls_to("checks/update")) == 1


async def test_double_rejects_a_malformed_request_against_the_openapi_description(github: GitHubApiDouble) -> None:
    client = app_client(github)  # the Checks API is an App's (a plain token gets 403 first)
    with pytest.raises(GitHubError) as caught:  # "head_shaa": the client's own call path, a misspelt field
        await client.call("create_check_run", REPO, "POST", "/repos/{owner}/{repo}/check-runs", {},
                          {"name": "x", "head_shaa": SHA})
    assert caught.value.status == 422
    assert "head_sha" in str(caught.value) and "head_shaa" in str(caught.value)
    with pytest.raises(GitHubError) as caught:
        await client.call("create_check_run", REPO, "POST", "/repos/{owner}/{repo}/check-runs", {},
                          {"name": "x", "head_sha": SHA, "status": "done"})
    assert "queued" in str(caught.value)  # the enum GitHub documents


REFUSED_CHECK_FIELDS = [
    ("POST", {"status": "completed"}, "conclusion"),  # "Required if you provide ... a status of completed"
    ("POST", {"completed_at": "2026-12-03T09:00:00Z"}, "conclusion"),  # "... if you provide completed_at"
    ("POST", {"conclusion": "stale"}, "stale"),  # "only GitHub can set this"
    ("PATCH", {"completed_at": "2026-12-03T09:00:00Z"}, "conclusion"),
    ("PATCH", {"conclusion": "stale"}, "stale"),
]


@pytest.mark.parametrize(("method", "fields", "named"), REFUSED_CHECK_FIELDS)
def test_double_refuses_the_status_and_conclusion_github_refuses(github: GitHubApiDouble, method: str,
                                                                 fields: dict[str, str], named: str) -> None:
    """The rules checks/create and checks/update state in words (operations.json), which their
    schemas do not encode: GitHub answers 422, the double must not store a check GitHub would not."""
    headers = installation_headers(github)
    url = f"{github.url}/repos/{REPO.full_name}/check-runs"
    created = httpx.post(url, headers=headers, json={"name": "x", "head_sha": SHA})
    assert created.status_code == 201, created.text
    before = dict(github.check_runs[created.json()["id"]])
    if method == "POST":
        answer = httpx.post(url, headers=headers, json={"name": "x", "head_sha": SHA, **fields})
    else:
        answer = httpx.patch(f"{url}/{created.json()['id']}", headers=headers, json=fields)
    assert answer.status_code == 422, answer.text
    assert named in answer.text
    assert len(github.check_runs) == 1 and github.check_runs[created.json()["id"]] == before  # nothing applied
    assert not github.violations


@pytest.mark.parametrize("url", ["", "ftp://dashboard.example/run/x", "dashboard.example/run/x"])
def test_double_refuses_a_details_url_that_is_not_http(github: GitHubApiDouble, url: str) -> None:
    """GitHub: 422 "details_url must use the http or https scheme" (packit/packit-service#1169,
    for an empty one); the description only says "The URL of the integrator's site"."""
    headers = installation_headers(github)
    runs = f"{github.url}/repos/{REPO.full_name}/check-runs"
    answer = httpx.post(runs, headers=headers, json={"name": "x", "head_sha": SHA, "details_url": url})
    assert answer.status_code == 422, answer.text
    assert "details_url must use the http or https scheme" in answer.text
    created = httpx.post(runs, headers=headers, json={"name": "x", "head_sha": SHA,
                                                      "details_url": "https://dashboard.example/run/x"})
    assert created.status_code == 201, created.text
    patched = httpx.patch(f"{runs}/{created.json()['id']}", headers=headers, json={"details_url": url})
    assert patched.status_code == 422, patched.text
    assert github.check_runs[created.json()["id"]]["details_url"] == "https://dashboard.example/run/x"
    assert len(github.check_runs) == 1 and not github.violations


def test_double_keeps_the_checks_api_to_apps(github: GitHubApiDouble) -> None:
    """A plain token gets GitHub's 403 on check runs: "The Checks API is only available to GitHub
    Apps" (actions/github-script#118, answered by GitHub; the 403 body as quoted in
    EnricoMi/publish-unit-test-result-action#31); checks/update: "OAuth apps and personal access
    tokens (classic) cannot use this endpoint" (operations.json). Commit statuses take it."""
    plain = {"authorization": f"token {PLAIN_TOKEN}"}
    runs = f"{github.url}/repos/{REPO.full_name}/check-runs"
    created = httpx.post(runs, headers=installation_headers(github), json={"name": "x", "head_sha": SHA})
    assert created.status_code == 201, created.text
    refused = [httpx.post(runs, headers=plain, json={"name": "x", "head_sha": SHA}),
               httpx.patch(f"{runs}/{created.json()['id']}", headers=plain, json={"status": "in_progress"})]
    assert [(a.status_code, a.json()["message"]) for a in refused] == [
        (403, "You must authenticate via a GitHub App.")] * 2
    assert github.check_runs[created.json()["id"]]["status"] == "queued" and len(github.check_runs) == 1
    status = httpx.post(f"{github.url}/repos/{REPO.full_name}/statuses/{SHA}", headers=plain, json={"state": "pending"})
    assert status.status_code == 201, status.text
    assert not github.violations


def test_double_verifies_the_app_jwt(github: GitHubApiDouble) -> None:
    url = f"{github.url}/app/installations/1001/access_tokens"
    now = time.time()
    good = app_jwt(github.app_id, github.private_key_pem, now)
    assert httpx.post(url, headers={"authorization": f"Bearer {good}"}).status_code == 201
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    bad = {
        "wrong key": jwt.encode({"iat": int(now) - 60, "exp": int(now) + 500, "iss": github.app_id}, other_key,
                                algorithm="RS256"),
        "wrong iss": jwt.encode({"iat": int(now) - 60, "exp": int(now) + 500, "iss": "1"}, github.private_key_pem,
                                algorithm="RS256"),
        "exp too far": jwt.encode({"iat": int(now) - 60, "exp": int(now) + 900, "iss": github.app_id},
                                  github.private_key_pem, algorithm="RS256"),
        "expired": jwt.encode({"iat": int(now) - 700, "exp": int(now) - 10, "iss": github.app_id},
                              github.private_key_pem, algorithm="RS256"),
        "iat in future": jwt.encode({"iat": int(now) + 120, "exp": int(now) + 500, "iss": github.app_id},
                                    github.private_key_pem, algorithm="RS256"),
        "installation token": PLAIN_TOKEN,
    }
    for why, token in bad.items():
        assert httpx.post(url, headers={"authorization": f"Bearer {token}"}).status_code == 401, why


def test_double_checks_tokens_on_every_other_call(github: GitHubApiDouble) -> None:
    url = f"{github.url}/repos/Codertocat/Hello-World/pulls/1"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": "token ghs_made_up"}).status_code == 401
    jwt_token = app_jwt(github.app_id, github.private_key_pem, time.time())
    token = httpx.post(f"{github.url}/app/installations/2002/access_tokens",
                       headers={"authorization": f"Bearer {jwt_token}"}).json()["token"]
    # installation 2002 is not installed on Codertocat/Hello-World: GitHub hides the repository
    assert httpx.get(url, headers={"authorization": f"token {token}"}).status_code == 404


def remaining(installation: str) -> float | None:
    return REGISTRY.get_sample_value("tektondag_github_rate_limit_remaining", {"installation": installation})


async def test_the_rate_limit_left_is_exported_until_its_window_resets_then_the_installation_drops_out(
        github: GitHubApiDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    """x-ratelimit-remaining says nothing past x-ratelimit-reset: an installation not called since
    leaves the metric (it kept a label, and a low value its alert, for ever)."""
    client = app_client(github)
    github.set_pull(REPO.full_name, 1, SHA)
    github.set_pull(OTHER.full_name, 1, SHA)
    github.rate_limit_window_s = 60.0  # this installation's window resets within a minute
    await client.pull_request_head(REPO, 1)
    github.rate_limit_window_s = 3600.0
    await client.pull_request_head(OTHER, 1)
    left = remaining("1001")
    assert left is not None and 0 < left < github.rate_limit and remaining("2002") is not None
    monkeypatch.setattr(metrics.GITHUB_RATE_LIMITS, "_clock", lambda: time.time() + 120)  # two minutes on
    assert remaining("1001") is None  # was: its last value, kept for ever
    assert remaining("2002") == github.rate_limit - 1  # its window has not reset: still GitHub's count


def test_credentials_whose_window_reset_are_not_kept_even_without_scrapes() -> None:
    collector = metrics.RateLimitCollector(clock=lambda: 1_000_000.0)
    for installation in range(1000):
        collector.observe(str(installation), 4999, reset_at=999_999.0)  # each window already over
    assert len(collector._last) <= 128  # one per installation ever called: 1000
    collector.observe("app", 4000, reset_at=None)  # no reset header: an hour, GitHub's window
    assert [sample.labels for family in collector.collect() for sample in family.samples] == [
        {"installation": "app"}]
