#!/usr/bin/env python3
"""`helm test` checks of a tekton-dag release; standard library only, so any Python image runs it.

    check.py ready     webhook-ingest answers its readiness probe (GET /health/readiness: 200)
    check.py ping      a GitHub `ping` signed with the release's webhook Secret is answered: 200
                       "pong", or 202 "ignored" while no team is configured
    check.py resolver  a push CloudEvent sent to the Broker reaches resolver, and resolver's
                       `event.ignored` reply comes back through the Broker to this Pod (the test
                       Trigger `tekton-dag-test-resolver` routes it here)

Settings come from the environment the test Pods set (templates/tests/): WEBHOOK_URL,
SECRET_FILE, BROKER_URL, PROBE_REPO, LISTEN_PORT, TIMEOUT_S. Exit 0 passes, 1 fails with the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import ClassVar

PUSH_TYPE = "dev.tektondag.github.push.v1"  # tekton_dag/events/catalog.py GITHUB_PUSH
IGNORED_TYPE = "dev.tektondag.event.ignored.v1"  # catalog.EVENT_IGNORED: resolver's answer for an unknown repo


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def check_ready(env: dict[str, str]) -> str:
    url = env["WEBHOOK_URL"] + "/health/readiness"
    deadline = time.monotonic() + float(env.get("TIMEOUT_S", "120"))
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return f"GET {url}: {response.status}"
        except urllib.error.HTTPError as error:
            last = f"{error.code} {error.read()[:200]!r}"
        except OSError as error:
            last = str(error)
        time.sleep(3)
    raise SystemExit(f"FAIL: GET {url} never answered 200 (last: {last})")


def first_secret(path: str, what: str = "webhook") -> str:
    """The first of the values (comma- or newline-separated, as while rotating) in a mounted Secret."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError:
        raise SystemExit(f"FAIL: no {what} secret at {path}: create the {what} Secret (NOTES.txt, step 1)") from None
    secrets = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    if not secrets:
        raise SystemExit(f"FAIL: the {what} Secret mounted at {path} is empty")
    return secrets[0]


def ping_request(secret: str, delivery: str) -> tuple[bytes, dict[str, str]]:
    """A GitHub ping delivery, signed the way GitHub signs (X-Hub-Signature-256 over the body)."""
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 0}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature,
    }


def check_ping(env: dict[str, str]) -> str:
    body, headers = ping_request(first_secret(env["SECRET_FILE"]), str(uuid.uuid4()))
    status, answer = post(env["WEBHOOK_URL"] + "/webhook/github", body, headers)
    try:
        reply = json.loads(answer)
    except ValueError:
        reply = {}
    if status == 200 and reply.get("status") == "pong":
        return "signed ping answered: pong"
    if status == 202 and reply.get("status") == "ignored":
        return f"signed ping answered: ignored ({reply.get('reason')})"
    raise SystemExit(f"FAIL: signed ping answered {status} {answer[:300]!r}")


def seal(key: str, attributes: list[str], data: object) -> str:
    """The ``tektondagseal`` of an event, as tekton_dag.events.sealing makes it (this script runs
    without the package; tests/helm/test_helm_tests.py checks the package accepts this seal)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    content = "\n".join([*attributes, canonical]).encode()
    return "v1=" + hmac.new(key.encode(), content, hashlib.sha256).hexdigest()


def push_event(repo: str, event_id: str, key: str = "") -> tuple[bytes, dict[str, str]]:
    """A binary-mode CloudEvent of a push, with the slim data webhook-ingest publishes, sealed with
    the team's event key (resolver and the Broker refuse an unsealed GitHub event)."""
    data = {
        "repo": repo,
        "sender": "tekton-dag-helm-test",
        "push": {"ref": "refs/heads/main", "before": "0" * 40, "after": "1" * 40, "deleted": False},
    }
    source = "/tekton-dag/helm-test"
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-type": PUSH_TYPE,
        "ce-source": source,
        "ce-subject": repo,
    }
    if key:
        headers["ce-tektondagseal"] = seal(key, [PUSH_TYPE, source, event_id, repo, ""], data)
    return json.dumps(data).encode(), headers


class Replies(http.server.BaseHTTPRequestHandler):
    """Records the ids of the events resolver ignored (their data names the input event)."""

    seen: ClassVar[set[str]] = set()

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("ce-type") == IGNORED_TYPE:
            with contextlib.suppress(ValueError):
                Replies.seen.add(str(json.loads(body).get("input_id")))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def check_resolver(env: dict[str, str]) -> str:
    server = http.server.ThreadingHTTPServer(("", int(env.get("LISTEN_PORT", "8080"))), Replies)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    deadline = time.monotonic() + float(env.get("TIMEOUT_S", "120"))
    sent: list[str] = []
    key = first_secret(env["EVENT_KEY_FILE"], "event key")
    while time.monotonic() < deadline:
        # Resend until the reply arrives: the test Trigger may not be Ready for the first events.
        event_id = f"helm-test-{uuid.uuid4()}"
        body, headers = push_event(env["PROBE_REPO"], event_id, key)
        status, answer = post(env["BROKER_URL"], body, headers)
        if status // 100 != 2:
            print(f"Broker answered {status} {answer[:200]!r}; retrying", flush=True)
        sent.append(event_id)
        for _ in range(10):
            if Replies.seen.intersection(sent):
                return "resolver answered through the Broker: event.ignored for the probe repository"
            time.sleep(1)
    raise SystemExit(
        f"FAIL: no event.ignored reply from resolver through the Broker in {env.get('TIMEOUT_S', '120')} s "
        f"({len(sent)} push events sent to {env['BROKER_URL']})"
    )


CHECKS = {"ready": check_ready, "ping": check_ping, "resolver": check_resolver}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in CHECKS:
        print(f"usage: check.py {{{'|'.join(CHECKS)}}}", file=sys.stderr)
        return 2
    print("PASS:", CHECKS[argv[1]](dict(os.environ)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
