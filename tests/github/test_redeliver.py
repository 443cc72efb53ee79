"""Missed deliveries: the hook-deliveries API of the double, paging, the plan, and `tekton-dag redeliver` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.githubapi import app_client, token_client
from tekton_dag.github import deliveries
from tekton_dag.github.port import Repo
from tekton_dag.testing import github as webhooks
from tekton_dag.testing.github_api import Delivery, GitHubApiDouble
from tekton_dag.testing.recorder import EventRecorder
from tekton_dag.testing.serving import free_port, served_function


def _succeeded_later(github: GitHubApiDouble, hook: str, failed: Delivery) -> None:
    """Record that GitHub got the same event through later (a manual redelivery, say)."""
    later = Delivery(failed.id + 1000, failed.guid, failed.event, failed.action, failed.body, 200, "OK",
                     failed.delivered_at, True, 0.01, None, None)
    github.deliveries[hook].append(later)


async def test_pages_through_deliveries_and_plans_one_redelivery_per_failed_event(
        github: GitHubApiDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    github.webhook_url = f"http://127.0.0.1:{free_port()}/webhook/github"  # nobody listens: "failed to connect"
    _, payload = webhooks.fixture("pull_request.opened")
    failed = [github.deliver("pull_request", payload, hook="Codertocat/Hello-World#7") for _ in range(5)]
    _succeeded_later(github, "Codertocat/Hello-World#7", failed[1])
    monkeypatch.setattr("tekton_dag.github.client.PER_PAGE", 2)
    hook = deliveries.Hook(Repo("Codertocat", "Hello-World"), 7)
    found = await deliveries.recent(token_client(github), hook, since=0)
    assert len(found) == 6
    assert len(github.calls_to("repos/list-webhook-deliveries")) == 3  # 2 + 2 + 2, by the Link header's cursor
    chosen, skipped = deliveries.plan(found)
    assert [d.guid for d in chosen] == [failed[i].guid for i in (0, 2, 3, 4)]
    assert [d.guid for d in skipped] == [failed[1].guid]
    assert not github.violations


async def test_more_than_100_a_page_is_taken_as_100_as_github_does(
        github: GitHubApiDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    """GitHub reduces a ``per_page`` above its maximum instead of refusing it (the double's ``_per_page``
    cites the pagination guide): a client asking for 250 still reads every delivery, 100 a page."""
    hook = "Codertocat/Hello-World#7"
    github.deliveries[hook] = [Delivery(n, f"guid-{n}", "push", None, b"{}", 502, "Invalid HTTP Response: 502",
                                        "2026-12-03T00:00:00Z", False, 0.01, None, None) for n in range(1, 131)]
    monkeypatch.setattr("tekton_dag.github.client.PER_PAGE", 250)
    found = await deliveries.recent(token_client(github), deliveries.Hook(Repo("Codertocat", "Hello-World"), 7),
                                    since=0)
    assert sorted(d.id for d in found) == list(range(1, 131))  # was: 422 "per_page must be between 1 and 100"
    listed = github.calls_to("repos/list-webhook-deliveries")
    assert [c.status for c in listed] == [200, 200] and [len(c.answer) for c in listed] == [100, 30]
    assert not github.violations


async def test_app_hook_needs_the_app_jwt(github: GitHubApiDouble) -> None:
    found = await deliveries.recent(app_client(github), deliveries.Hook(), since=0)
    assert found == []
    assert github.calls[0].credential == "jwt"


def _redeliver_cli(github: GitHubApiDouble, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    key = tmp_path / "app.pem"
    key.write_text(github.private_key_pem)
    env = {**os.environ, "GITHUB_API_URL": github.url, "GITHUB_APP_ID": github.app_id,
           "GITHUB_APP_PRIVATE_KEY_FILE": str(key)}
    return subprocess.run([sys.executable, "-m", "tekton_dag.cli.main", "redeliver", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_failed_deliveries_are_redelivered_once_through_webhook_ingest(github: GitHubApiDouble,
                                                                       tmp_path: Path) -> None:
    broker = EventRecorder(status=503)  # the Broker is overloaded: webhook-ingest answers 503
    teams = webhooks.write_teams(tmp_path / "teams")
    with broker.serving() as sink:
        with served_function("webhook-ingest", webhooks.environment(teams, K_SINK=sink), tmp_path) as ingest:
            github.webhook_url = ingest.url + "/webhook/github"
            github.webhook_secret = webhooks.SHARED_SECRET
            _, opened = webhooks.fixture("pull_request.opened")
            _, synchronized = webhooks.fixture("pull_request.synchronize")
            lost = [github.deliver("pull_request", opened), github.deliver("pull_request", synchronized)]
            assert [d.status_code for d in lost] == [503, 503]
            assert broker.events == []

            dry = _redeliver_cli(github, tmp_path, "--since", "1h", "--dry-run", "-o", "json")
            assert dry.returncode == 0, dry.stderr
            assert json.loads(dry.stdout)["redelivered"] == 0 and broker.events == []

            broker.status = 202  # the Broker is back
            first = _redeliver_cli(github, tmp_path, "--since", "1h", "-o", "json")
            assert first.returncode == 0, first.stderr
            summary = json.loads(first.stdout)
            assert (summary["failedEvents"], summary["redelivered"], summary["skipped"]) == (2, 2, 0)
            assert sorted(e.get_id() for e in broker.events) == sorted(d.guid for d in lost)  # event id = guid

            again = _redeliver_cli(github, tmp_path, "--since", "1h")
            assert again.returncode == 0, again.stderr
            assert "redelivered 0, skipped 2 (delivered later)" in again.stdout
            assert len(broker.events) == 2  # nothing new
    assert len(github.calls_to("apps/redeliver-webhook-delivery")) == 2
    assert not github.violations


def test_usage_and_configuration_errors(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    run = lambda *a: subprocess.run([sys.executable, "-m", "tekton_dag.cli.main", "redeliver", *a],  # noqa: E731
                                    env=env, capture_output=True, text=True, timeout=60)
    assert run("--since", "4d").returncode == 2
    arabic_indic = run("--since", "\u0666h")  # float() reads it as 6; the usage says digits
    assert arabic_indic.returncode == 2 and "expected a number and a unit" in arabic_indic.stderr
    assert run("--since", "1h", "--repo", "a/b").returncode == 2
    missing = run("--since", "1h")
    assert missing.returncode == 1 and "GITHUB_APP_ID" in missing.stderr and "Traceback" not in missing.stderr


def test_the_double_serves_standalone_for_development(tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    port = free_port()
    with subprocess.Popen([sys.executable, "-m", "tekton_dag.testing.github_api", "--port", str(port),
                           "--key-file", str(key)], stdout=subprocess.PIPE, text=True) as double:
        try:
            assert double.stdout is not None
            banner = double.stdout.readline()
            assert f"GITHUB_API_URL=http://127.0.0.1:{port}" in banner
            env = {**os.environ, "GITHUB_API_URL": f"http://127.0.0.1:{port}", "GITHUB_APP_ID": "424242",
                   "GITHUB_APP_PRIVATE_KEY_FILE": str(key)}
            done = subprocess.run([sys.executable, "-m", "tekton_dag.cli.main", "redeliver", "--since", "1h"],
                                  env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert "0 deliveries" in done.stdout
            assert double.stdout.readline().startswith("github: GET /app/hook/deliveries → 200")
        finally:
            double.terminate()


@pytest.mark.parametrize(("item", "said"), [
    ({"guid": "g", "event": "push", "delivered_at": "2026-12-03T00:00:00Z"}, "has no 'id'"),
    ({"id": 7, "guid": "g", "event": "push", "delivered_at": "yesterday"}, "delivery 7 has a malformed field"),
    ({"id": "x", "guid": "g", "event": "push", "delivered_at": "2026-12-03T00:00:00Z"}, "malformed field"),
    ("not an object", "an item is str"),
])
def test_a_delivery_item_github_did_not_describe_is_an_error_that_says_what(item: object, said: str) -> None:
    with pytest.raises(deliveries.GitHubError, match=said):
        deliveries.Delivery.from_item(item)
