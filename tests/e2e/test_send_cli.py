"""`tekton-dag send`: realistic, signed GitHub webhooks that the real webhook parser accepts."""

from __future__ import annotations

import json

import pytest

from support.e2e import run_cli
from tekton_dag.devchain import samples
from tekton_dag.events import github
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


async def test_send_names_a_secret_file_it_cannot_use(tmp_path):
    empty = tmp_path / "secret"
    empty.write_text("\n")
    for path, said in ((empty, "is empty"), (tmp_path / "missing", "cannot read it")):
        code, _, err = await run_cli("send", "push", REPO, "--print",
                                     env={"PATH": "/usr/bin", "GITHUB_WEBHOOK_SECRET_FILE": str(path)})
        assert code == 1 and f"GITHUB_WEBHOOK_SECRET_FILE {path}" in err and said in err, err
        assert "Traceback" not in err


@pytest.mark.parametrize("url", ["localhost:50x0", "http://127.0.0.1:99999/", "http://[::1/", "ftp://host/x"])
async def test_send_refuses_a_url_it_cannot_send_to(url):
    code, _, err = await run_cli("send", "ping", REPO, "--url", url, "--secret", "abc")
    assert code == 2 and "--url" in err and "Traceback" not in err, err


async def test_send_cannot_reach_the_receiver():
    code, _, err = await run_cli("send", "ping", REPO, "--url", "http://127.0.0.1:9/", "--secret", "abc")
    assert code == 1 and "could not reach" in err


def saved_payload(tmp_path, kind="pull_request.opened", number=7):
    """A body as saved from GitHub's Recent Deliveries: its own formatting, kept byte for byte."""
    payload = json.loads(samples.build(samples.Sample(kind, REPO, number=number), "x").body)
    path = tmp_path / "payload.json"
    path.write_bytes(json.dumps(payload, separators=(",", ":")).encode() + b"\n")
    return path


async def test_send_file_signs_the_saved_body_as_is_and_infers_the_event(receiver, tmp_path):
    path = saved_payload(tmp_path)
    code, out, err = await run_cli("send", "--file", str(path), "--url", receiver.url, "--secret", "abc")
    assert code == 0, err
    (headers, body), = receiver.requests
    assert body == path.read_bytes()  # GitHub signs the raw bytes: never re-serialised
    assert matching_owner(body, headers["x-hub-signature-256"], [("t", "abc")]) == "t"
    assert headers["x-github-event"] == "pull_request" and len(headers["x-github-delivery"]) == 36
    assert f"pull_request {path} delivery {headers['x-github-delivery']} → 202" in out
    code, _, err = await run_cli("send", "--file", str(path), "--event", "push", "--delivery", "again-1",
                                 "--url", receiver.url, "--secret", "abc")
    assert code == 0, err
    headers = receiver.requests[1][0]
    assert (headers["x-github-event"], headers["x-github-delivery"]) == ("push", "again-1")


@pytest.mark.parametrize(
    "kind, event", [("push", "push"), ("ping", "ping"), ("pull_request.closed-merged", "pull_request")]
)
def test_the_event_is_inferred_from_the_payload_shape(kind, event):
    assert github.infer_event(json.loads(samples.build(samples.Sample(kind, REPO), "x").body)) == event


async def test_send_file_refuses_what_it_cannot_send(tmp_path):
    unknown = tmp_path / "issue.json"
    unknown.write_text('{"action": "opened", "issue": {}}')
    code, _out, err = await run_cli("send", "--file", str(unknown), "--secret", "abc", "--url", "http://127.0.0.1:9/")
    assert code == 1 and f"{unknown}: cannot tell which GitHub event this is: pass --event NAME" in err
    recorded = tmp_path / "recorded.json"  # an example delivery as @octokit/webhooks-examples keeps them
    recorded.write_text(json.dumps({"headers": {"X-GitHub-Event": "issue_comment"}, "payload": {"action": "created"}}))
    code, _out, err = await run_cli("send", "--file", str(recorded), "--event", "issue_comment", "--secret", "abc",
                                    "--url", "http://127.0.0.1:9/")
    assert code == 1 and f"{recorded}: a recorded delivery ({{headers, payload}}), not a webhook body" in err
    assert f"jq .payload {recorded}" in err and "Traceback" not in err
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    code, _, err = await run_cli("send", "--file", str(broken), "--secret", "abc")
    assert code == 1 and f"{broken}: not valid JSON" in err and "Traceback" not in err
    code, _, err = await run_cli("send", "push", REPO, "--file", str(broken), "--secret", "abc")
    assert code == 2 and err.startswith("usage: tekton-dag send") and "give one or the other" in err
    code, _, err = await run_cli("send", "--secret", "abc")
    assert code == 2 and "KIND and REPO are required (or --file PAYLOAD.json)" in err
