"""webhook-ingest: GitHub webhooks in, verified slim CloudEvents out; plus the REST API.

A func-python http function (raw ASGI). Endpoints (docs/functions.md):

- ``POST /``, ``POST /webhook/github``: a GitHub delivery (``webhooks.intake`` decides); 202 only
  after the Broker at ``K_SINK`` answered 2xx, 503 when it did not. While no team is configured
  (an empty teams folder), every delivery gets 202 ``ignored`` saying so, and nothing is published.
- ``POST /api/run``, ``POST /api/bootstrap?apps=a,b``: publish run.requested / bootstrap.requested;
  need ``Authorization: Bearer <token>`` (``TEKTON_DAG_API_TOKEN`` or ``TEKTON_DAG_API_TOKEN_FILE``).
- ``GET /api/teams``, ``GET /api/stacks``: the configured teams and stacks.
- ``GET /api/runs``: filters ``team``, ``stack``, ``app``, ``pr``, ``pipeline``, ``state``; pages with
  ``limit`` and ``continue`` as the Kubernetes list API does (``kube.listing``).
- ``GET /healthz``, ``GET /readyz``.
- ``GET /metrics``: Prometheus metrics of this process (``observability.metrics``; docs/operations.md),
  only while no ``METRICS_PORT`` listener is configured (a local ``tekton-dag serve``); with one
  (the chart's default) this public port answers 404 and the metrics are on ``METRICS_PORT``.

This is the one function with a public route (the chart makes the others cluster-local), so it is
closed by default: the ``GET /api/*`` reads need the same bearer token as the writes (one check,
``_authorize``), unless the operator opens them with ``TEKTON_DAG_API_PUBLIC_READS=true``.

Every answer is JSON with a ``status`` and, for anything refused, a ``reason``; bad input never
gets a 5xx, and a 5xx always means "try again" (Broker or cluster unavailable).
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

from cloudevents.core.v1.event import CloudEvent

from tekton_dag import pipelines, resolution
from tekton_dag.config.models import Config
from tekton_dag.eventing import K_SINK_ENV
from tekton_dag.eventing.publishing import PublishError
from tekton_dag.events import catalog, codec, sealing
from tekton_dag.events.requests import RequestError
from tekton_dag.functions.configs import NO_TEAM
from tekton_dag.functions.lifecycle import Handler, Wiring
from tekton_dag.kube.listing import STATES, BadContinue, ClusterUnavailable, RunLister, RunQuery
from tekton_dag.observability import metrics
from tekton_dag.pipelineruns.naming import label_value
from tekton_dag.syntax import ascii_digits, json_value
from tekton_dag.webhooks import asgi, intake
from tekton_dag.webhooks.secrets import SecretFile, SecretSource

API_TOKEN_ENV: Final = "TEKTON_DAG_API_TOKEN"
API_TOKEN_FILE_ENV: Final = "TEKTON_DAG_API_TOKEN_FILE"
PUBLIC_READS_ENV: Final = "TEKTON_DAG_API_PUBLIC_READS"  # "true": GET /api/* without a token
MAX_API_BODY_BYTES: Final = 1024 * 1024
WEBHOOK_PATHS: Final = ("/", "/webhook/github")

log = logging.getLogger("tekton_dag.webhook_ingest")


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any] | list[Any]
    headers: Mapping[str, str] | None = None


def rejected(status: int, reason: str, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, {"status": "rejected", "reason": reason}, headers)


class WebhookIngest(Handler):
    """The function instance; ``start`` reads its settings from the environment it is given."""

    def __init__(self, wiring: Wiring | None = None) -> None:
        super().__init__(wiring)
        self.secrets = SecretSource({})
        self.runs = RunLister()
        self.public_reads = False  # closed until setup reads the environment
        self.token_file: SecretFile | None = None
        self.public_metrics = False
        self.settings_problem = ""
        self._routes: dict[tuple[str, str], Callable[[asgi.Scope, asgi.Receive], Awaitable[Reply]]] = {
            **{("POST", path): self._webhook for path in WEBHOOK_PATHS},
            ("POST", "/api/run"): self._api_run,
            ("POST", "/api/bootstrap"): self._api_bootstrap,
            ("GET", "/api/teams"): self._api_read(self._api_teams),
            ("GET", "/api/stacks"): self._api_read(self._api_stacks),
            ("GET", "/api/runs"): self._api_read(self._api_runs),
            ("GET", "/healthz"): self._healthz,
            ("GET", "/readyz"): self._readyz,
        }

    # --- func-python lifecycle (the rest is Handler's) -------------------------------------
    def setup(self) -> None:
        self.secrets = SecretSource(self.env)
        token_path = self.env.get(API_TOKEN_FILE_ENV)
        self.token_file = SecretFile(Path(token_path)) if token_path else None
        config = self.configs.current() if self.configs else None
        if not self.secrets.current(config):
            log.warning("no webhook secret configured: every delivery is refused with 401 "
                        "(set GITHUB_WEBHOOK_SECRET or GITHUB_WEBHOOK_SECRET_FILE)")
        # /metrics on this public port only while there is no METRICS_PORT listener (local use).
        self.public_metrics = not metrics.listener_configured(self.env)
        raw = self.env.get(PUBLIC_READS_ENV, "").strip()
        if raw.lower() in ("", "false"):
            self.public_reads = False
        elif raw.lower() == "true":
            self.public_reads = True
            log.warning("%s=true: GET /api/teams, /api/stacks and /api/runs answer without a token", PUBLIC_READS_ENV)
        else:  # a bad setting: reads stay closed, and the function is not ready until it is fixed
            self.public_reads = False
            self.settings_problem = f"{PUBLIC_READS_ENV}={raw[:40]!r} is not true or false"
            log.error("webhook-ingest not ready: %s", self.settings_problem)

    def problem(self) -> str:
        return self.settings_problem

    # --- ASGI -------------------------------------------------------------------------------
    async def handle(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope.get("path") == "/metrics" and scope.get("method") == "GET" and self.public_metrics:
            body, content_type = metrics.exposition()
            await asgi.reply_raw(send, 200, body, content_type)
            return
        try:
            reply = await self._dispatch(scope, receive)
        except asgi.BodyTooLarge:
            reply = rejected(413, "body too large")
        except asgi.BodyIncomplete:  # a bad chunk or a client gone: nothing of it is acted on
            reply = rejected(400, "body incomplete: the connection ended before the body did")
        except Exception:  # a bug must not leak a stack trace to the caller
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            reply = Reply(500, {"status": "error", "reason": "internal error (logged)"})
            if scope.get("method") == "POST" and scope.get("path") in WEBHOOK_PATHS:
                event_name = metrics.event_label(asgi.headers_of(scope).get("x-github-event", ""))
                _count_webhook(event_name, 500, {"status": "error"})
        await asgi.reply(send, reply.status, reply.body, reply.headers)

    async def _dispatch(self, scope: asgi.Scope, receive: asgi.Receive) -> Reply:
        method, path = scope.get("method", ""), scope.get("path", "")
        route = self._routes.get((method, path))
        if route is not None:
            return await route(scope, receive)
        allowed = sorted(m for m, p in self._routes if p == path)
        if allowed:
            return rejected(
                405, f"{method} not allowed on {path}; use {', '.join(allowed)}", {"Allow": ", ".join(allowed)}
            )
        if path == "/metrics" and not self.public_metrics:  # they are on the METRICS_PORT listener
            return rejected(404, "no endpoint /metrics on this port: metrics are served on the metrics port")
        return rejected(404, f"no endpoint {path}; webhooks go to POST / or POST /webhook/github")

    # --- Webhooks ------------------------------------------------------------------------------
    async def _webhook(self, scope: asgi.Scope, receive: asgi.Receive) -> Reply:
        received = time.time()
        headers = asgi.headers_of(scope)
        event_name = metrics.event_label(headers.get("x-github-event", ""))
        if self.configs is not None and self.configs.no_team():
            delivery = _loggable(headers.get("x-github-delivery", "-"))
            ignored = {"status": "ignored", "delivery": delivery, "reason": NO_TEAM}
            _count_webhook(event_name, 202, ignored)
            return Reply(202, ignored)
        twice = asgi.repeated(scope, intake.SINGLE_HEADERS)
        if twice:  # which one counts would be ours to guess, and a proxy's may differ
            refused = {"status": "rejected", "reason": f"{twice}: sent more than once; a delivery carries it once"}
            _count_webhook(event_name, 400, refused)
            return Reply(400, refused)
        try:
            body = await asgi.read_body(scope, receive, intake.MAX_BODY_BYTES, headers)
        except asgi.BodyTooLarge:
            _count_webhook(event_name, 413, {"status": "rejected"})
            raise
        except asgi.BodyIncomplete:
            _count_webhook(event_name, 400, {"status": "rejected"})
            raise
        config = self.configs.current() if self.configs else None
        outcome = intake.receive(headers, body, self.secrets.current(config), _rfc3339(received))
        delivery = _loggable(headers.get("x-github-delivery", "-"))
        if outcome.event is not None:
            failure = await self._publish(outcome.event)
            if failure:
                _count_webhook(event_name, 503, {"status": "unavailable"})
                return Reply(503, {"status": "unavailable", "delivery": delivery, "reason": failure})
        _count_webhook(event_name, outcome.status, outcome.body)
        log.info("delivery %s event %s: %s %s", delivery, _loggable(headers.get("x-github-event", "-")),
                 outcome.status, outcome.body.get("reason", outcome.body["status"]))
        return Reply(outcome.status, outcome.body)

    async def _publish(self, event: CloudEvent) -> str:
        """Publish ``event``; the reason it failed, or "" once the Broker accepted it."""
        if self.publisher is None:
            return f"Broker address unknown: {K_SINK_ENV} is not set"
        try:
            await self.publisher.publish(self.keys.seal(event, event.get_data()))
        except sealing.KeyMissing as exc:
            return exc.reason
        except PublishError as exc:
            log.warning("event %s not published: %s", _loggable(event.get_id()), exc)
            return "the Broker did not accept the event; retry later"  # its address stays internal
        return ""

    # --- REST API ----------------------------------------------------------------------------
    async def _api_run(self, scope: asgi.Scope, receive: asgi.Receive) -> Reply:
        return await self._api_write(scope, receive, self._run_event)

    async def _api_bootstrap(self, scope: asgi.Scope, receive: asgi.Receive) -> Reply:
        return await self._api_write(scope, receive, self._bootstrap_event)

    def _run_event(self, config: Config, body: Any, scope: asgi.Scope, event_id: str, received: str) -> CloudEvent:
        request = resolution.manual_run(config, body, event_id)
        source = catalog.SOURCE_WEBHOOK_INGEST
        return codec.request_event(request, source, event_id, repo=request.repo, received=received)

    def _bootstrap_event(
        self, config: Config, body: Any, scope: asgi.Scope, event_id: str, received: str
    ) -> CloudEvent:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        apps = tuple(a.strip() for value in query.get("apps", ()) for a in value.split(",") if a.strip())
        request = resolution.manual_bootstrap(config, body, apps, event_id)
        return codec.request_event(request, catalog.SOURCE_WEBHOOK_INGEST, event_id, received=received)

    async def _api_write(
        self,
        scope: asgi.Scope,
        receive: asgi.Receive,
        build: Callable[[Config, Any, asgi.Scope, str, str], CloudEvent],
    ) -> Reply:
        received = time.time()
        denied = self._authorize(scope, "write")
        if denied:
            return denied
        body = await asgi.read_body(scope, receive, MAX_API_BODY_BYTES)
        config = self.configs.current() if self.configs else None
        if config is None:
            return Reply(503, {"status": "unavailable", "reason": "configuration not loaded"})
        try:
            data = json_value(body or b"{}")
        except ValueError as exc:
            return rejected(400, f"body: {exc}")
        try:
            event = build(config, data, scope, str(uuid.uuid4()), _rfc3339(received))
        except RequestError as exc:
            return rejected(400, str(exc))
        failure = await self._publish(event)
        if failure:
            return Reply(503, {"status": "unavailable", "reason": failure})
        return Reply(
            202, {"status": "accepted", "id": event.get_id(), "type": event.get_type(), "data": event.get_data()}
        )

    def _api_read(
        self, read: Callable[[asgi.Scope, asgi.Receive], Awaitable[Reply]]
    ) -> Callable[[asgi.Scope, asgi.Receive], Awaitable[Reply]]:
        """``read`` behind the writes' bearer token, unless the operator opened the reads."""

        async def authorized(scope: asgi.Scope, receive: asgi.Receive) -> Reply:
            denied = None if self.public_reads else self._authorize(scope, "read")
            return denied or await read(scope, receive)

        return authorized

    def _authorize(self, scope: asgi.Scope, access: str) -> Reply | None:
        """None when the request carries the API token; else 403 when none is configured, else 401
        (400 when it sends two Authorization headers: which one a proxy checked is unknown)."""
        if asgi.repeated(scope, ("authorization",)):
            return rejected(400, "Authorization: sent more than once")
        headers = asgi.headers_of(scope)
        expected = self._api_token()
        if not expected:
            opt_out = f" (or {PUBLIC_READS_ENV}=true)" if access == "read" else ""
            return rejected(
                403, f"the {access} API is disabled: set {API_TOKEN_ENV} or {API_TOKEN_FILE_ENV}{opt_out}"
            )
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            return rejected(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
        return None

    def _api_token(self) -> str:
        """The file's token (read again only when the mounted Secret changes), else the variable's."""
        if self.token_file is not None:
            return self.token_file.text()
        return self.env.get(API_TOKEN_ENV, "").strip()

    async def _api_teams(self, scope: asgi.Scope, receive: asgi.Receive) -> Reply:
        config = self.configs.current() if self.configs else None
        if config is None:
            return Reply(503, {"status": "unavailable", "reason": "configuration not loaded"})
        return Reply(
            200,
            [
                {
                    "name": t.name,
                    "namespace": t.namespace,
                    "stacks": [s.name for s in t.stacks],
                    "push": t.push,
                    "maxConcurrentRuns": t.max_concurrent_runs,
                }
                for t in config.teams
            ],
        )

    async def _api_stacks(self, scope: asgi.Scope, receive: asgi.Receive) -> Reply:
        config = self.configs.current() if self.configs else None
        if config is None:
            return Reply(503, {"status": "unavailable", "reason": "configuration not loaded"})
        return Reply(
            200,
            [
                {
                    "team": t.name,
                    "name": s.name,
                    "description": s.description,
                    "apps": [{"name": a.name, "repo": a.repo, "downstream": list(a.downstream)} for a in s.apps],
                }
                for t in config.teams
                for s in t.stacks
            ],
        )

    async def _api_runs(self, scope: asgi.Scope, receive: asgi.Receive) -> Reply:
        config = self.configs.current() if self.configs else None
        if config is None:
            return Reply(503, {"status": "unavailable", "reason": "configuration not loaded"})
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        try:
            teams, run_query = runs_query(config, query)
        except RequestError as exc:
            return rejected(400, str(exc))
        try:
            page = await self.runs.list_runs(((t.name, t.namespace) for t in teams), run_query)
        except BadContinue as exc:
            return rejected(exc.status, str(exc))
        except ClusterUnavailable as exc:
            return Reply(503, {"status": "unavailable", "reason": str(exc)})
        metadata = {"continue": page.next_token} if page.next_token else {}
        return Reply(200, {"items": page.items, "metadata": metadata})

    async def _healthz(self, scope: asgi.Scope, receive: asgi.Receive) -> Reply:
        return Reply(200, {"status": "alive"})

    async def _readyz(self, scope: asgi.Scope, receive: asgi.Receive) -> Reply:
        ready, message = self.ready()
        return Reply(200, {"status": "ready"}) if ready else Reply(503, {"status": "not ready", "reason": message})


RUNS_FILTERS: Final = {
    "stack": pipelines.L_STACK,
    "app": pipelines.L_APP,
    "pr": pipelines.L_PR,
    "pipeline": pipelines.L_PIPELINE,
}
MAX_RUNS_LIMIT: Final = 500  # what one page may ask the API server for


def runs_query(config: Config, query: Mapping[str, list[str]]) -> tuple[list[Any], RunQuery]:
    """The teams and the ``RunQuery`` of ``GET /api/runs``; ``RequestError`` names a bad parameter."""
    known = {"team", "state", "limit", "continue", *RUNS_FILTERS}
    unknown = sorted(set(query) - known)
    if unknown:
        raise RequestError(f"{unknown[0]}: unknown parameter; use {', '.join(sorted(known))}")
    one = {key: values[-1] for key, values in query.items()}
    wanted = query.get("team")
    teams = [t for t in config.teams if not wanted or t.name in wanted]
    if wanted and not teams:
        raise RequestError(f"team: {wanted[0]!r} is not configured")
    labels = {}
    for key, label in RUNS_FILTERS.items():
        if key in one:
            if key == "pr" and not ascii_digits(one[key]):
                raise RequestError(f"pr: {one[key]!r} is not a pull request number")
            if key == "pipeline" and one[key] not in pipelines.PIPELINES:
                raise RequestError(f"pipeline: {one[key]!r} is not one of {', '.join(pipelines.PIPELINES)}")
            labels[label] = label_value(one[key])
    state = one.get("state", "")
    if state and state not in STATES:
        raise RequestError(f"state: {state!r} is not one of {', '.join(STATES)}")
    limit_text = one.get("limit", "")
    if limit_text and not (ascii_digits(limit_text) and 1 <= int(limit_text) <= MAX_RUNS_LIMIT):
        raise RequestError(f"limit: {limit_text!r} is not a number from 1 to {MAX_RUNS_LIMIT}")
    token = one.get("continue", "")
    limit = int(limit_text) if limit_text else (MAX_RUNS_LIMIT if token else 0)
    return teams, RunQuery(labels, state, limit, token)


# Why a delivery was ignored, as a bounded label value (intake's reasons quote the event or action).
_IGNORED_REASONS = (("pull_request action", "action_not_handled"), ("event ", "event_not_handled"))


def _count_webhook(event: str, status: int, body: Mapping[str, Any]) -> None:
    """Count one answered delivery (``tektondag_webhooks_total``; signature failures on their own too)."""
    outcome = str(body.get("status", ""))
    reason = ""
    if outcome == "ignored":
        text = str(body.get("reason", ""))
        reason = next((label for prefix, label in _IGNORED_REASONS if text.startswith(prefix)), "other")
    elif outcome == "rejected" and body.get("reason") == intake.BAD_SIGNATURE:
        metrics.SIGNATURE_FAILURES.inc()
        reason = "signature"
    metrics.WEBHOOKS.labels(event, outcome, reason, str(status)).inc()


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _loggable(value: str) -> str:
    """A header value safe to log: short, and nothing that could forge a log line."""
    return re.sub(r"[^A-Za-z0-9._-]", "?", value[:64]) or "-"


def new(wiring: Wiring | None = None) -> WebhookIngest:
    """func-python's factory: one instance per process."""
    return WebhookIngest(wiring)
