"""`tekton-dag send`: realistic, signed GitHub webhooks that the real webhook parser accepts."""

from __future__ import annotations

import json

import pytest

from support.e2e import run_cli
from tekton_dag.devchain import samples
from tekton_dag.events.github import PING, parse_payload
from tekton_dag.webhooks.signatures import matching_owner

REPO = "jmjava/tekton-dag-vue-fe"


@pytest.mark.parametrize("kind", samples.KINDS)
def test_every_sample_is_signed_and_parses_like_a_real_delivery(kind):
    delivery = samples.build(samples.Sample(kind, REPO, number=7), "s3cret")
    assert matching_owner(delivery.body, delivery.headers["X-Hub-Signature-256"], [("me", "s3cret")]) == "me"
    assert matching_owner(delivery.body, delivery.headers["X-Hub-Signature-256"], [("me", "other")]) is None
    payload = json.loads(delivery.body)
    assert payload["repository"]["full_name"] == REPO
    if delivery.event == PING:
        assert payload["hook"]["events"] == ["pull_request", "push"]
        return
    event = parse_payload(delivery.event, delivery.delivery_id, payload)
    assert event.repo == REPO and event.delivery == delivery.delivery_id
    if kind.startswith("pull_request"):
        pr = event.pull_request
        assert (pr.number, pr.head_ref, pr.base_ref, pr.fork) == (7, "feature/demo", "main", False)
        assert pr.action == {"pull_request.opened": "opened", "pull_request.synchronize": "synchronize"}.get(
            kind, "closed"
        )
        assert pr.merged is (kind == "pull_request.closed-merged")
    else:
        assert event.push.branch == "main" and len(event.push.after) == 40


def test_delivery_ids_are_fresh_uuids_unless_given():
    sample = samples.Sample("push", REPO)
    first, second = (samples.build(sample, "s") for _ in range(2))
    assert first.delivery_id != second.delivery_id and len(first.delivery_id) == 36
    assert samples.build(sample, "s", "fixed-id").delivery_id == "fixed-id"


@pytest.mark.parametrize("repo", ["no-slash", "a/b/c", "/x"])
def test_a_bad_repo_is_refused(repo):
    with pytest.raises(ValueError, match="owner/name"):
        samples.build(samples.Sample("push", repo), "s")


async def test_send_posts_the_signed_webhook_and_prints_the_answer(receiver):
    code, out, err = await run_cli("send", "pull_request.opened", REPO, "--url", receiver.url, "--secret", "abc",
                                   "--delivery", "d-1")
    assert code == 0, err
    assert "delivery d-1 → 202" in out
    (headers, body), = receiver.requests
    assert headers["x-github-event"] == "pull_request" and headers["x-github-delivery"] == "d-1"
    assert matching_owner(body, headers["x-hub-signature-256"], [("t", "abc")]) == "t"


async def test_send_fails_clearly_on_a_refusal_and_without_a_secret(receiver):
    receiver.status = 401
    code, _, err = await run_cli("send", "push", REPO, "--url", receiver.url, "--secret", "abc")
    assert code == 1 and "answered 401" in err
    code, _, err = await run_cli("send", "push", REPO, "--url", receiver.url, env={"PATH": "/usr/bin"})
    assert code == 1 and "no webhook secret" in err


async def test_send_cannot_reach_the_receiver():
    code, _, err = await run_cli("send", "ping", REPO, "--url", "http://127.0.0.1:9/", "--secret", "abc")
    assert code == 1 and "could not reach" in err
