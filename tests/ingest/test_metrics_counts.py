"""What webhook-ingest counts for each kind of answer (``tektondag_webhooks_total``): bounded
labels whatever the sender puts in its headers. The scrape is the real ``GET /metrics``."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tekton_dag.testing.github import delivery

WEBHOOKS = "tektondag_webhooks_total"


async def counts(ingest: httpx.AsyncClient) -> dict[tuple[str, str, str, str], float]:
    response = await ingest.get("/metrics")
    assert response.status_code == 200
    return {(s.labels["event"], s.labels["outcome"], s.labels["reason"], s.labels["code"]): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples
            if s.name == WEBHOOKS}


async def test_each_answer_is_counted_once_with_bounded_labels(ingest: httpx.AsyncClient) -> None:
    before = await counts(ingest)
    sends = [delivery("pull_request.opened"), delivery("ping")]
    headers, body = delivery("pull_request.opened")
    sends.append(({**headers, "X-GitHub-Event": "issues"}, body))  # signed, but an event we ignore
    sends.append(({**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}, body))
    sends.append(({**headers, "X-GitHub-Event": "x" * 200, "X-Hub-Signature-256": ""}, body))
    for headers, body in sends:
        await ingest.post("/webhook/github", headers=headers, content=body)
    after = await counts(ingest)
    moved = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
    assert moved == {
        ("pull_request", "accepted", "", "202"): 1,
        ("ping", "pong", "", "200"): 1,
        ("other", "ignored", "event_not_handled", "202"): 1,
        ("pull_request", "rejected", "signature", "401"): 1,
        ("other", "rejected", "signature", "401"): 1,  # the sender's event name never becomes a label
    }


async def test_a_broker_that_refuses_is_counted_as_unavailable(ingest: httpx.AsyncClient, broker) -> None:
    broker.status = 503
    before = await counts(ingest)
    headers, body = delivery("push.branch")
    assert (await ingest.post("/", headers=headers, content=body)).status_code == 503
    after = await counts(ingest)
    assert after[("push", "unavailable", "", "503")] - before.get(("push", "unavailable", "", "503"), 0) == 1


async def test_a_bug_answered_500_is_counted_too(ingest: httpx.AsyncClient, monkeypatch) -> None:
    from tekton_dag.webhooks import intake

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(intake, "receive", broken)
    before = await counts(ingest)
    headers, body = delivery("pull_request.opened")
    assert (await ingest.post("/", headers=headers, content=body)).status_code == 500
    key = ("pull_request", "error", "", "500")
    assert (await counts(ingest))[key] - before.get(key, 0) == 1
