"""Test doubles and data for webhook-ingest and resolver tests.

- ``write_teams``: a real configuration root (YAML through the real loader) in which GitHub's
  example repository ``Codertocat/Hello-World`` is an app of two teams (fan-out).
- ``delivery``: a committed GitHub fixture as the exact HTTP request GitHub would send, signed.
- ``FakeBroker``: a Broker ingress double on ``httpx.MockTransport``; it decodes every POST with
  the CloudEvents SDK (so only valid binary/structured events count) and answers a chosen status.
"""

from __future__ import annotations

import copy
import json
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.events import codec
from tekton_dag.webhooks.signatures import sign

FIXTURES = Path(__file__).with_name("github_webhooks")
SHARED_SECRET = "shared-secret-for-tests"
PAYMENTS_SECRET = "payments-own-secret"
REPO = "Codertocat/Hello-World"
SINK = "http://broker.test/tekton-dag"


def fixture(name: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Headers and payload of ``tests/fixtures/github/<name>.json`` (copies, free to change)."""
    document = json.loads((FIXTURES / f"{name}.json").read_text())
    return dict(document["headers"]), copy.deepcopy(document["payload"])


def delivery(
    name: str, secret: str = SHARED_SECRET, *, payload: Any = None, form: bool = False, **overrides: str
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a signed delivery of fixture ``name``; ``payload`` replaces its body."""
    headers, original = fixture(name)
    body_obj = original if payload is None else payload
    raw = json.dumps(body_obj).encode()
    if form:
        raw = urllib.parse.urlencode({"payload": raw.decode()}).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers["X-Hub-Signature-256"] = sign(secret, raw)
    headers.update(overrides)
    return headers, raw


TEAM_YAML = """\
name: {name}
namespace: {name}-ci
stacks: [stacks/{stack}.yaml]
pullRequests:
  baseBranches: {branches}
  skipDrafts: true
  forks: {forks}
push: {push}
{webhook}"""

STACK_YAML = """\
name: {stack}
apps:
  - name: hello
    repo: Codertocat/Hello-World
    role: frontend
    build: {{tool: npm}}
    downstream: [api]
  - name: api
    repo: {other_repo}
    role: middleware
    build: {{tool: maven}}
"""


def write_teams(root: Path) -> Path:
    """Teams ``platform`` (shared secret only, push: ignore) and ``payments`` (own secret)."""
    teams = {
        "platform": dict(stack="web", branches='["master", "release/*"]', forks="skip", push="ignore",
                         webhook="", other_repo="platform-org/api"),
        "payments": dict(stack="pay", branches='["master"]', forks="allow", push="merge-release",
                         webhook="webhook:\n  secretEnv: PAYMENTS_WEBHOOK_SECRET\n", other_repo="payments-org/api"),
    }
    for name, values in teams.items():
        (root / name / "stacks").mkdir(parents=True)
        (root / name / "team.yaml").write_text(TEAM_YAML.format(name=name, **values))
        (root / name / "stacks" / f"{values['stack']}.yaml").write_text(STACK_YAML.format(**values))
    return root


def environment(teams: Path, **extra: str) -> dict[str, str]:
    """What ``start(cfg)`` gets: a Broker, the teams root and the webhook secrets."""
    return {
        "K_SINK": SINK,
        "TEKTON_DAG_TEAMS_DIR": str(teams),
        "GITHUB_WEBHOOK_SECRET": f"old-rotated-secret,{SHARED_SECRET}",
        "PAYMENTS_WEBHOOK_SECRET": PAYMENTS_SECRET,
        "TEKTON_DAG_TEAM_SECRETS_DIR": str(teams / "no-mounted-secrets"),
        **extra,
    }


@dataclass
class FakeBroker:
    """Records accepted events; ``status`` is what it answers (500 or 404 to refuse)."""

    status: int = 202
    events: list[CloudEvent] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    fail_after: int | None = None  # accept this many, then answer 500
    timeout: bool = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.timeout:
            raise httpx.ReadTimeout("broker too slow", request=request)
        event = codec.decode(dict(request.headers), request.content)
        if self.fail_after is not None and len(self.events) >= self.fail_after:
            return httpx.Response(500)
        if 200 <= self.status < 300:
            self.events.append(event)
        return httpx.Response(self.status)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))

    def types(self) -> list[str]:
        return [e.get_type() for e in self.events]
