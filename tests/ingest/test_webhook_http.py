"""POST / and /webhook/github through func-python's ASGI app, with a fake Broker at K_SINK."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tekton_dag.events import catalog
from tekton_dag.testing.github import PAYMENTS_SECRET, REPO, SHARED_SECRET, delivery, fixture
from tekton_dag.testing.recorder import EventRecorder
from tekton_dag.webhooks.signatures import sign

PUBLISHED = [
    ("pull_request.opened", catalog.GITHUB_PULL_REQUEST),
    ("pull_request.synchronize", catalog.GITHUB_PULL_REQUEST),
    ("pull_request.reopened", catalog.GITHUB_PULL_REQUEST),
    ("pull_request.ready_for_review", catalog.GITHUB_PULL_REQUEST),
    ("pull_request.closed", catalog.GITHUB_PULL_REQUEST),
    ("pull_request.closed-merged", catalog.GITHUB_PULL_REQUEST),
    ("push.branch", catalog.GITHUB_PUSH),
    ("push.tag", catalog.GITHUB_PUSH),
]


@pytest.mark.parametrize(("name", "event_type"), PUBLISHED)
@pytest.mark.parametrize("path", ["/", "/webhook/github"])
async def test_a_handled_delivery_is_published_then_acknowledged(
    ingest: httpx.AsyncClient, broker: EventRecorder, name: str, event_type: str, path: str
) -> None:
    headers, body = delivery(name)
    response = await ingest.post(path, headers=headers, content=body)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    [event] = broker.events
    attributes = event.get_attributes()
    assert attributes["type"] == event_type
    assert attributes["id"] == headers["X-GitHub-Delivery"]
    assert attributes["source"] == catalog.SOURCE_WEBHOOK_INGEST
    assert attributes["subject"] == attributes["partitionkey"] == REPO
    assert attributes["githubdelivery"] == headers["X-GitHub-Delivery"]
    assert attributes["githubevent"] == headers["X-GitHub-Event"]
    assert "team" not in attributes  # signed with the shared secret: every team's targets


async def test_the_published_data_is_slim_and_exact(ingest: httpx.AsyncClient, broker: EventRecorder) -> None:
    headers, body = delivery("pull_request.closed-merged")
    payload = json.loads(body)
    await ingest.post("/", headers=headers, content=body)
    data = broker.events[0].get_data()
    assert len(body) > 20_000 and len(json.dumps(data)) < 1_000
    pr = payload["pull_request"]
    assert data == {
        "repo": payload["repository"]["full_name"],
        "sender": payload["sender"]["login"],
        "pull_request": {
            "action": "closed", "number": pr["number"], "draft": pr["draft"], "merged": True,
            "base_ref": pr["base"]["ref"], "base_repo": pr["base"]["repo"]["full_name"],
            "head_sha": pr["head"]["sha"], "head_ref": pr["head"]["ref"],
            "head_repo": pr["head"]["repo"]["full_name"], "merge_commit_sha": pr["merge_commit_sha"],
        },
        # the GitHub App installation that sent it: status-reporter acts on the repository as this one
        "installation_id": payload["installation"]["id"],
    }


async def test_the_binary_event_on_the_wire_has_ce_headers(ingest: httpx.AsyncClient, broker: EventRecorder) -> None:
    headers, body = delivery("push.branch")
    await ingest.post("/", headers=headers, content=body)
    [sent] = broker.headers
    assert sent["ce-type"] == catalog.GITHUB_PUSH
    assert sent["content-type"] == "application/json"


async def test_form_encoded_deliveries_are_accepted(ingest: httpx.AsyncClient, broker: EventRecorder) -> None:
    headers, body = delivery("pull_request.opened", form=True)
    response = await ingest.post("/", headers=headers, content=body)
    assert response.status_code == 202, response.text
    assert broker.events[0].get_data()["pull_request"]["action"] == "opened"


async def test_ping_is_answered_200_and_not_published(ingest: httpx.AsyncClient, broker: EventRecorder) -> None:
    headers, body = delivery("ping")
    response = await ingest.post("/", headers=headers, content=body)
    assert response.status_code == 200
    assert response.json()["status"] == "pong"
    assert broker.headers == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [("issues.opened", "'issues' is not handled"), ("pull_request.labeled", "'labeled' starts nothing")],
)
async def test_other_events_are_ignored_with_a_reason(
    ingest: httpx.AsyncClient, broker: EventRecorder, name: str, reason: str
) -> None:
    headers, body = delivery(name)
    response = await ingest.post("/", headers=headers, content=body)
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert reason in response.json()["reason"]
    assert broker.headers == []


async def test_a_team_secret_scopes_the_event_to_that_team(ingest: httpx.AsyncClient, broker: EventRecorder) -> None:
    headers, body = delivery("pull_request.opened", secret=PAYMENTS_SECRET)
    response = await ingest.post("/", headers=headers, content=body)
    assert response.status_code == 202
    assert broker.events[0].get_extension("team") == "payments"


async def test_a_team_naming_the_shared_secret_does_not_take_every_delivery(
    make_ingest: Callable[..., Awaitable[httpx.AsyncClient]], broker: EventRecorder
) -> None:
    """payments' team.yaml names the shared variable: deliveries signed with it stay shared (every
    team's targets), not payments' alone; before, they were scoped to payments and the resolver
    ignored the other teams' repositories."""
    client = await make_ingest(PAYMENTS_WEBHOOK_SECRET=SHARED_SECRET)
    headers, body = delivery("pull_request.opened", secret=SHARED_SECRET)
    assert (await client.post("/", headers=headers, content=body)).status_code == 202
    assert "team" not in broker.events[0].get_attributes()


async def test_a_lone_surrogate_in_a_signed_payload_is_no_500(ingest: httpx.AsyncClient, broker: EventRecorder) -> None:
    """JSON may carry "\\ud800" (a lone surrogate): the event's seal is made over UTF-8 text, and
    encoding it raised UnicodeEncodeError, a 500 for a delivery GitHub signed."""
    _, payload = fixture("pull_request.opened")
    payload["sender"]["login"] = "\ud800"
    payload["pull_request"]["user"]["login"] = "\ud800"
    headers, body = delivery("pull_request.opened", payload=payload)
    response = await ingest.post("/", headers=headers, content=body)
    assert response.status_code == 202, response.text
    assert broker.events[0].get_type().endswith("pull_request.v1")


async def test_a_mounted_team_secret_file_is_used(
    make_ingest: Callable[..., Awaitable[httpx.AsyncClient]], broker: EventRecorder, tmp_path
) -> None:
    secret_dir = tmp_path / "team-secrets"
    (secret_dir / "payments-webhook").mkdir(parents=True)
    (secret_dir / "payments-webhook" / "secret").write_text("from-a-mounted-secret\n")
    teams = tmp_path / "teams"
    team_yaml = teams / "payments" / "team.yaml"
    team_yaml.write_text(team_yaml.read_text() + "  secretName: payments-webhook\n")
    client = await make_ingest(TEKTON_DAG_TEAM_SECRETS_DIR=str(secret_dir))
    headers, body = delivery("pull_request.opened", secret="from-a-mounted-secret")
    assert (await client.post("/", headers=headers, content=body)).status_code == 202
    assert broker.events[0].get_extension("team") == "payments"


async def test_a_shared_secret_file_is_used(
    make_ingest: Callable[..., Awaitable[httpx.AsyncClient]], broker: EventRecorder, tmp_path
) -> None:
    (tmp_path / "webhook-secret").write_text("first-from-file\nsecond-from-file\n")
    client = await make_ingest(GITHUB_WEBHOOK_SECRET="", GITHUB_WEBHOOK_SECRET_FILE=str(tmp_path / "webhook-secret"))
    for secret, status in (("second-from-file", 202), (SHARED_SECRET, 401)):
        headers, body = delivery("push.branch", secret=secret)
        assert (await client.post("/", headers=headers, content=body)).status_code == status


async def test_a_traceparent_is_carried_on(ingest: httpx.AsyncClient, broker: EventRecorder) -> None:
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    headers, body = delivery("push.branch", traceparent=trace)
    await ingest.post("/", headers=headers, content=body)
    assert broker.events[0].get_extension("traceparent") == trace


@pytest.mark.parametrize(
    "broker_state",
    [dict(status=500), dict(status=404), dict(status=429), dict(timeout=True)],
    ids=["broker 500", "broker 404", "broker 429", "broker timeout"],
)
async def test_no_2xx_unless_the_broker_took_the_event(
    ingest: httpx.AsyncClient, broker: EventRecorder, broker_state: dict
) -> None:
    for key, value in broker_state.items():
        setattr(broker, key, value)
    headers, body = delivery("pull_request.opened")
    response = await ingest.post("/", headers=headers, content=body)
    assert response.status_code == 503
    assert response.json()["reason"]
    assert broker.events == []


async def test_without_k_sink_deliveries_get_503(make_ingest, broker: EventRecorder) -> None:
    client = await make_ingest(K_SINK="")
    headers, body = delivery("pull_request.opened")
    response = await client.post("/", headers=headers, content=body)
    assert response.status_code == 503
    assert "K_SINK" in response.json()["reason"]


async def test_kn_func_invoke_default_body_gets_a_clear_400(ingest: httpx.AsyncClient, broker: EventRecorder) -> None:
    # What `kn func invoke` sends to an http function by default.
    response = await ingest.post(
        "/", headers={"Content-Type": "application/json"}, content=b'{"message":"Hello World"}'
    )
    assert response.status_code == 400
    reason = response.json()["reason"]
    assert "X-GitHub-Event" in reason and "X-Hub-Signature-256" in reason and "/api/run" in reason
    assert broker.headers == []


def _bad_inputs() -> list[tuple[str, dict, bytes | None, str, int, str]]:
    """(case, header changes, body or None for the fixture's, method, status, reason part)."""
    _, body = delivery("pull_request.opened")
    big = b"x" * (25 * 1024 * 1024 + 1)
    return [
        ("GET on the webhook path", {}, None, "GET", 405, "not allowed"),
        ("PUT on the webhook path", {}, None, "PUT", 405, "not allowed"),
        ("no X-GitHub-Event", {"X-GitHub-Event": None}, None, "POST", 400, "X-GitHub-Event"),
        ("no X-GitHub-Delivery", {"X-GitHub-Delivery": None}, None, "POST", 400, "X-GitHub-Delivery"),
        ("a delivery id with a slash", {"X-GitHub-Delivery": "a/b"}, None, "POST", 400, "X-GitHub-Delivery"),
        ("no signature", {"X-Hub-Signature-256": None}, None, "POST", 401, "signature"),
        (
            "a signature from another secret",
            {"X-Hub-Signature-256": "sha256=" + "0" * 64},
            None,
            "POST",
            401,
            "signature",
        ),
        ("a body changed after signing", {}, body.replace(b"opened", b"closed", 1), "POST", 401, "signature"),
        ("text/plain", {"Content-Type": "text/plain"}, None, "POST", 415, "Content-Type"),
        ("no content type", {"Content-Type": None}, None, "POST", 415, "Content-Type"),
        ("over 25 MiB", {}, big, "POST", 413, "too large"),
        ("not JSON", {}, b"{not json", "POST", 400, "not valid JSON"),
        ("not UTF-8", {}, b'{"a": "\xff"}', "POST", 400, "UTF-8"),
        ("a JSON array", {}, b"[1, 2]", "POST", 400, "JSON object"),
        (
            "no pull_request object",
            {},
            json.dumps({"action": "opened", "repository": {"full_name": REPO}}).encode(),
            "POST",
            400,
            "pull_request: missing",
        ),
        ("a string PR number", {}, _with_pr(number="7"), "POST", 400, "pull_request.number: must be an integer"),
        (
            "form without payload",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"other=1",
            "POST",
            400,
            "payload",
        ),
    ]


def _with_pr(**changes: object) -> bytes:
    _, payload = fixture("pull_request.opened")
    payload["pull_request"].update(changes)
    return json.dumps(payload).encode()


BAD_INPUTS = _bad_inputs()


@pytest.mark.parametrize(("case", "changes", "body", "method", "status", "reason"), BAD_INPUTS,
                         ids=[case[0] for case in BAD_INPUTS])
async def test_every_bad_input_is_refused_with_a_reason_and_nothing_published(
    ingest: httpx.AsyncClient, broker: EventRecorder, case: str, changes: dict, body: bytes | None,
    method: str, status: int, reason: str,
) -> None:
    headers, signed_body = delivery("pull_request.opened")
    if body is not None:
        signed_body = body
        if status != 401:  # signed correctly, so only the intended fault is present
            headers["X-Hub-Signature-256"] = sign(SHARED_SECRET, body)
    for name, value in changes.items():
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    response = await ingest.request(method, "/", headers=headers, content=signed_body)
    assert response.status_code == status, response.text
    assert reason in response.json()["reason"]
    assert broker.headers == []


async def test_unknown_paths_are_404_with_a_reason(ingest: httpx.AsyncClient) -> None:
    response = await ingest.post("/webhooks/gitlab", content=b"{}")
    assert response.status_code == 404
    assert "POST /webhook/github" in response.json()["reason"]


async def test_the_405_names_the_allowed_methods(ingest: httpx.AsyncClient) -> None:
    response = await ingest.get("/webhook/github")
    assert response.headers["allow"] == "POST"


async def test_a_chunked_body_over_the_limit_is_413_without_a_content_length(
    ingest: httpx.AsyncClient, broker: EventRecorder
) -> None:
    headers, _ = delivery("pull_request.opened")

    async def chunks():
        for _ in range(26):
            yield b" " * (1024 * 1024)

    response = await ingest.post("/", headers=headers, content=chunks())
    assert response.status_code == 413
    assert broker.headers == []
