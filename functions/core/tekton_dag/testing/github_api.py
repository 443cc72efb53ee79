"""Stands in for GitHub's REST API: a loopback HTTP server held to GitHub's own OpenAPI description.

Every request is checked against ``tekton_dag.testing.github_openapi`` (npm ``@octokit/openapi``):
method and path (404 for a path not among ours, and for a known path with another method, as
GitHub answers), path and query parameters, JSON body (422 with GitHub's
``validation-error`` shape naming the field), the rules of a check run's ``conclusion`` that the
description states in words only and its ``details_url`` scheme (``_check_run_rules``). Every
answer of an operation is checked against the same document before it is sent
(``validate_answers``; a violation is the double's bug: 500).

Auth, as https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app says:

- ``POST /app/installations/{id}/access_tokens`` and the App's own endpoints (``/app/hook/...``)
  take only the App's JWT (``Authorization: Bearer``): RS256 signed by one of the App's keys (the
  double makes one, ``private_key_pem``; ``add_app_key``/``delete_app_key`` rotate them), ``iss``
  = the App id, ``iat`` not in the future, ``exp`` after now and at most 10 minutes after ``iat``
  + the 60 s GitHub's docs tell clients to backdate
  (https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/
  generating-a-json-web-token-jwt-for-a-github-app); else 401 ``A JSON web token could not be decoded``.
- every other call: an installation token it issued (valid for ``token_ttl_s``, one hour like
  GitHub's; for a repository of that installation) or one of ``plain_tokens``; else 401
  ``Bad credentials``. Check runs take no plain token (``APP_ONLY``: GitHub's 403).
- answers carry ``x-ratelimit-limit/remaining/used/reset/resource`` per credential (the reset
  ``rate_limit_window_s`` ahead, an hour); a credential
  past ``rate_limit`` calls gets GitHub's primary-limit 403 (https://docs.github.com/en/rest/
  using-the-rest-api/rate-limits-for-the-rest-api).

State: check runs (one check suite per repository and head commit, listed newest of each name
first), commit statuses, comments, collaborator roles (``set_permission``: answered as GitHub does,
``permission`` the legacy base role and ``role_name`` the role; an unknown user is ``none`` — GitHub
answers 404 for a non-collaborator, not modelled), pull requests (``set_pull``: GitHub's example PR
with that head and base), webhook deliveries per hook (``deliver`` POSTs a payload to
``webhook_url`` signed as GitHub signs it and records the outcome; redelivery attempts POST it again
with the same ``X-GitHub-Delivery`` guid and a new delivery id).

Writes too close together (``min_write_gap_s`` > 0, off by default): a POST, PATCH, PUT or DELETE
(not the installation-token request) that arrives while another write of the same credential is
being answered, or less than ``min_write_gap_s`` after the last one it accepted, gets GitHub's
secondary rate limit (403, ``retry-after: write_retry_after_s``), as GitHub's REST best practices warn
(https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
#avoid-concurrent-requests, #pause-between-mutative-requests). GitHub publishes no such threshold:
this is the rule the client is held to, not a measurement of github.com.

Faults (``fail``): ``secondary`` (403 with GitHub's secondary-limit message, optional Retry-After),
``primary`` (403, x-ratelimit-remaining 0 and a reset time), ``429`` (with Retry-After), any 5xx,
``slow`` (answers after ``seconds``: a client timeout); ``down_for(seconds)`` answers 503 to all
(``how="timeout"``: holds each request until the outage ends).
``calls`` records each request (method, path, operation, status, credential kind and identity, and
when it arrived and was answered, on ``time.monotonic``).

Listings page as GitHub's do: ``per_page`` 30 by default, more than 100 taken as 100 (``_per_page``);
a suite's check runs by ``page`` with ``Link`` rel="next"/"last"/"prev"/"first" (``_numbered_page``),
hook deliveries by a ``cursor`` in rel="next" (``_list``).

Not modelled (docs/testing.md): GraphQL, conditional requests/ETags, a check suite's own status and
conclusion (GitHub's reset to queued on a re-run, and its summary of the check runs), the
``check_run``/``check_suite`` webhooks the API's own writes would trigger, token permissions and
repository selection beyond the installation's repository list, secondary limits GitHub would impose
by itself (only injected ones), GitHub's async redelivery (it happens before the 202 here).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tekton_dag.testing.github import fixture
from tekton_dag.testing.github_openapi import Operation, answer_problems, contract, request_problems
from tekton_dag.webhooks.signatures import sign

DOCS = "https://docs.github.com/rest"
# GITHUB_WRITE_INTERVAL_SECONDS of the clients tests make (production: 1 s, github.pacing): a test's
# writes stay one at a time, without a second between them; the tests of the pacing set their own.
TEST_WRITE_INTERVAL_S = 0.01
# GITHUB_NOTIFICATION_INTERVAL_SECONDS of the same clients (production: 3 s between comments, github.pacing).
TEST_NOTIFICATION_INTERVAL_S = 0.01
JWT_MAX_LIFETIME_S = 600 + 60  # exp ≤ 10 min ahead; iat backdated by the recommended 60 s
MAX_APP_KEYS = 25  # private keys one App may hold (GitHub's docs, "Managing private keys for GitHub Apps")
# The Checks API is only for GitHub Apps: a plain token gets 403 "You must authenticate via a GitHub
# App." (actions/github-script#118, GitHub's answer; checks/update in operations.json: "OAuth apps and
# personal access tokens (classic) cannot use this endpoint").
APP_ONLY = frozenset({"checks/create", "checks/update"})
# GitHub's secondary-limit answer as github.com sends it (a 403 body seen in the wild, 2025: the request ID
# is the answer's x-github-request-id; the link is the one GitHub sends, not DOCS).
SECONDARY_MESSAGE = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
                     "If you reach out to GitHub Support for help, please include the request ID {request_id} "
                     "and timestamp {timestamp} UTC.")
SECONDARY_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# Not held to the writes' pace: octokit's plugin-throttling puts it in its own ``auth`` group, not
# ``write`` (octokit/plugin-throttling.js src/wrap-request.ts, isAuthRequest), and so does the client.
TOKEN_OPERATION = "apps/create-installation-access-token"


@dataclass
class Call:
    method: str
    path: str
    operation: str  # operationId, or "" when the path is not one of ours
    status: int
    credential: str  # jwt | installation | token | none
    body: Any = None  # the request's JSON body (None without one)
    answer: Any = None  # the JSON the double answered
    identity: str = ""  # whose: app | installation:<id> | token:<prefix> ("" when not authenticated)
    arrived: float = 0.0  # time.monotonic() when the request had been read
    answered: float = 0.0  # time.monotonic() when its answer was ready


@dataclass
class Fault:
    kind: str  # secondary | primary | 429 | 5xx status as text | slow
    times: int
    match: str
    retry_after: float | None = None
    seconds: float = 0.0


@dataclass
class Delivery:
    id: int
    guid: str
    event: str
    action: str | None
    body: bytes
    status_code: int
    status: str
    delivered_at: str
    redelivery: bool
    duration: float
    installation_id: int | None
    repository_id: int | None

    def item(self) -> dict[str, Any]:
        return {"id": self.id, "guid": self.guid, "delivered_at": self.delivered_at, "redelivery": self.redelivery,
                "duration": self.duration, "status": self.status, "status_code": self.status_code,
                "event": self.event, "action": self.action, "installation_id": self.installation_id,
                "repository_id": self.repository_id, "throttled_at": None}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's listen backlog is 5: a client opening many connections at once (status-reporter
    # at 100 runs/s) would see refused or reset connections that GitHub never causes.
    request_queue_size = 256


def _now_iso(at: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if at is None else at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HTTPAnswer(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, message: str, **extra: Any) -> HTTPAnswer:
    return HTTPAnswer(status, {"message": message, "documentation_url": DOCS, "status": str(status), **extra})


def _secondary(status: int, request_id: str, headers: dict[str, str]) -> HTTPAnswer:
    """GitHub's secondary rate limit answer (SECONDARY_MESSAGE)."""
    message = SECONDARY_MESSAGE.format(request_id=request_id, timestamp=_now_iso().replace("T", " ").rstrip("Z"))
    return HTTPAnswer(status, {"message": message, "documentation_url": SECONDARY_DOCS, "status": str(status)}, headers)


@dataclass
class GitHubApiDouble:
    """``with GitHubApiDouble() as github:`` → ``github.url``, ``github.private_key_pem``, ``github.app_id``."""

    app_id: str = "424242"
    installations: dict[int, set[str] | None] = field(default_factory=lambda: {1001: None})
    plain_tokens: set[str] = field(default_factory=set)
    webhook_url: str | None = None
    webhook_secret: str = ""
    token_ttl_s: float = 3600.0
    rate_limit: int = 5000
    rate_limit_window_s: float = 3600.0  # x-ratelimit-reset this far ahead (GitHub's primary limits are per hour)
    validate_answers: bool = True
    on_call: Callable[[Call], None] | None = None
    min_write_gap_s: float = 0.0  # > 0: writes of one credential closer than this get a secondary limit
    write_retry_after_s: int = 1  # the retry-after of that answer

    def __post_init__(self) -> None:
        self._public_keys: dict[str, Any] = {}  # the App's keys GitHub holds: PEM -> its public key
        self.private_key_pem = self.add_app_key()
        self._contract = contract()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.calls: list[Call] = []
        self.tokens: dict[str, tuple[int, float]] = {}  # installation token -> (installation, expires)
        self.check_runs: dict[int, dict[str, Any]] = {}
        # One check suite per repository and head commit (GitHub: per App and head commit; one App here)
        self.check_suites: dict[tuple[str, str], int] = {}
        self.statuses: list[dict[str, Any]] = []
        self.comments: list[dict[str, Any]] = []
        self.permissions: dict[tuple[str, str], str] = {}
        self.pulls: dict[tuple[str, int], dict[str, Any]] = {}
        self.deliveries: dict[str, list[Delivery]] = {}  # "app" or "owner/repo#hook_id" -> newest last
        self.violations: list[str] = []  # answers that broke the contract (the double's bugs)
        self._faults: list[Fault] = []
        self._down_until = 0.0
        self._down_how = "503"
        self._used: dict[str, int] = {}
        self._writing: dict[str, int] = {}  # identity -> writes being answered
        self._last_write: dict[str, float] = {}  # identity -> arrival of the last write accepted
        self._server: _Server | None = None

    # --- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> GitHubApiDouble:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), self._handler())
        threading.Thread(target=self._server.serve_forever, name="github-api-double", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- test controls ----------------------------------------------------------------------
    def fail(self, kind: str, times: int = 1, *, match: str = "", retry_after: float | None = None,
             seconds: float = 0.0) -> None:
        with self._lock:
            self._faults.append(Fault(kind, times, match, retry_after, seconds))

    def down_for(self, seconds: float, how: str = "503") -> None:
        """An outage of ``seconds``: every request answered 503 (``how="503"``), or held until the
        outage ends and then answered 503 (``how="timeout"``: a client that waits less sees a timeout)."""
        if how not in ("503", "timeout"):
            raise ValueError(f"how: {how!r} is not 503 or timeout")
        self._down_how = how
        self._down_until = time.monotonic() + seconds

    @property
    def down(self) -> bool:
        return time.monotonic() < self._down_until

    def set_permission(self, repo: str, user: str, permission: str) -> None:
        self.permissions[(repo.lower(), user.lower())] = permission

    def set_pull(self, repo: str, number: int, head_sha: str, base_ref: str = "master", state: str = "open") -> None:
        _, payload = fixture("pull_request.opened")
        pull = payload["pull_request"]
        pull["number"], pull["head"]["sha"], pull["base"]["ref"], pull["state"] = number, head_sha, base_ref, state
        self.pulls[(repo.lower(), number)] = pull

    def calls_to(self, operation: str) -> list[Call]:
        return [c for c in self.calls if c.operation == operation]

    def deliver(self, event: str, payload: dict[str, Any], *, hook: str = "app", guid: str | None = None,
                redelivery: bool = False) -> Delivery:
        """Send ``payload`` to ``webhook_url`` as GitHub would and record the delivery (its answer's status)."""
        body = json.dumps(payload).encode()
        guid = guid or str(uuid.uuid4())
        installation = (payload.get("installation") or {}).get("id")
        headers = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/044aadd",
                   "X-GitHub-Event": event, "X-GitHub-Delivery": guid,
                   "X-GitHub-Hook-ID": hook.rsplit("#", 1)[-1] if "#" in hook else "1",
                   "X-GitHub-Hook-Installation-Target-Type": "integration" if hook == "app" else "repository",
                   "X-GitHub-Hook-Installation-Target-ID": self.app_id if hook == "app" else "1",
                   "X-Hub-Signature-256": sign(self.webhook_secret, body)}
        started = time.monotonic()
        try:
            assert self.webhook_url, "webhook_url is not set"
            answer = httpx.post(self.webhook_url, content=body, headers=headers, timeout=10.0)  # GitHub waits 10 s
            code = answer.status_code
            status = "OK" if answer.is_success else f"Invalid HTTP Response: {code}"
        except httpx.HTTPError:
            code, status = 0, "failed to connect"
        delivery = Delivery(next(self._ids), guid, event, payload.get("action"), body, code, status, _now_iso(),
                            redelivery, round(time.monotonic() - started, 3), installation,
                            (payload.get("repository") or {}).get("id"))
        with self._lock:
            self.deliveries.setdefault(hook, []).append(delivery)
        return delivery

    # --- HTTP -------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body, headers = double._answer(self.command, self.path, dict(self.headers.items()), raw)
                data = b"" if body is None else json.dumps(body).encode()
                # the status line, headers and body in one write (wfile is unbuffered: one sendall), so
                # no answer waits on a delayed ACK between a headers segment and a body segment
                lines = [f"{self.protocol_version} {status} {HTTPStatus(status).phrase}",
                         f"Date: {self.date_time_string()}", "Content-Type: application/json; charset=utf-8",
                         f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in headers.items())]
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that timed out
                    self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        return Handler

    def _answer(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any, dict[str, str]]:
        split = urllib.parse.urlsplit(target)
        path, query = split.path, urllib.parse.parse_qs(split.query, keep_blank_values=True)
        operation, params, _ = self._contract.match(method, path)  # GitHub: 404 for a wrong method too
        credential, identity = "none", ""
        body: Any = None
        arrived = time.monotonic()
        request_id = uuid.uuid4().hex[:20].upper()
        extra: dict[str, str] = {"x-github-request-id": request_id, "x-github-api-version-selected": "2022-11-28"}
        try:
            if operation is None:
                raise _error(404, "Not Found")
            self._inject_faults(path, request_id)
            credential, identity = self._authenticate(operation, params, headers)
            extra.update(self._rate_limit(identity))
            paced = method in WRITES and operation.operation_id != TOKEN_OPERATION
            with self._write_slot(paced, identity, arrived, request_id):
                body, has_body = self._decode(raw)
                problems = request_problems(operation, params, query, body, has_body)
                if problems:
                    raise _error(422, "Invalid request.\n\n" + "\n".join(problems),
                                 errors=[{"resource": operation.operation_id, "code": "invalid", "message": p}
                                         for p in problems])
                status, answer, more = self._operate(operation, params, query, body)
            extra.update(more)
        except HTTPAnswer as exc:
            status, answer = exc.status, exc.body
            extra.update(exc.headers)
        if operation is not None and self.validate_answers:
            problems = answer_problems(operation, status, answer)
            if problems:
                self.violations.extend(problems)
                status, answer = 500, {"message": "GitHub API double broke the contract: " + "; ".join(problems)}
        call = Call(method, path, operation.operation_id if operation else "", status, credential,
                    body, answer, identity, arrived, time.monotonic())
        with self._lock:
            self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call)
        return status, answer, extra

    @staticmethod
    def _decode(raw: bytes) -> tuple[Any, bool]:
        if not raw.strip():
            return None, False
        try:
            return json.loads(raw), True
        except ValueError:
            raise _error(400, "Problems parsing JSON") from None

    @contextlib.contextmanager
    def _write_slot(self, paced: bool, identity: str, arrived: float, request_id: str) -> Iterator[None]:
        """Answer a write of ``identity`` that comes while another is answered, or sooner than
        ``min_write_gap_s`` after the last accepted one, with a secondary rate limit (module docstring)."""
        if not paced:
            yield
            return
        with self._lock:  # kept with the check off too: a test may turn it on between two writes
            last, gap = self._last_write.get(identity), self.min_write_gap_s
            if gap > 0 and (self._writing.get(identity, 0) or (last is not None and arrived - last < gap)):
                raise _secondary(403, request_id, {"retry-after": str(self.write_retry_after_s)})
            self._writing[identity] = self._writing.get(identity, 0) + 1
            self._last_write[identity] = arrived
        try:
            yield
        finally:
            with self._lock:
                self._writing[identity] -= 1

    def _inject_faults(self, path: str, request_id: str) -> None:
        if time.monotonic() < self._down_until:
            if self._down_how == "timeout":
                time.sleep(max(0.0, self._down_until - time.monotonic()))
            raise _error(503, "Service Unavailable")
        with self._lock:
            fault = next((f for f in self._faults if f.match in path and f.times > 0), None)
            if fault is not None:
                fault.times -= 1
        if fault is None:
            return
        after = {} if fault.retry_after is None else {"retry-after": str(int(fault.retry_after))}
        if fault.kind == "slow":
            time.sleep(fault.seconds)
        elif fault.kind in ("secondary", "429"):
            raise _secondary(403 if fault.kind == "secondary" else 429, request_id, after)
        elif fault.kind == "primary":
            reset = str(int(time.time() + (fault.retry_after or 60)))
            raise HTTPAnswer(403, {"message": "API rate limit exceeded for installation.", "documentation_url": DOCS},
                             {"x-ratelimit-remaining": "0", "x-ratelimit-limit": str(self.rate_limit),
                              "x-ratelimit-reset": reset})
        else:
            raise _error(int(fault.kind), "Server Error")

    # --- the App's private keys ---------------------------------------------------------------
    def add_app_key(self) -> str:
        """A new private key of the App (PEM), as generating one in the App's settings gives: every
        key the App holds signs valid JWTs until it is deleted, which is how a key is rotated without
        downtime; an App holds at most ``MAX_APP_KEYS`` (https://docs.github.com/en/apps/creating-github-apps/
        authenticating-with-a-github-app/managing-private-keys-for-github-apps)."""
        if len(self._public_keys) >= MAX_APP_KEYS:
            raise ValueError(f"the App has {MAX_APP_KEYS} private keys: delete one before generating another")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        self._public_keys[pem] = key.public_key()
        return pem

    def delete_app_key(self, pem: str) -> None:
        """Delete one of the App's keys: JWTs it signs are refused from now on. GitHub keeps an App's
        last key (its settings refuse to delete it); so does this."""
        if pem not in self._public_keys:
            raise KeyError("not a key of this App")
        if len(self._public_keys) == 1:
            raise ValueError("an App keeps at least one private key")
        del self._public_keys[pem]

    # --- auth and limits --------------------------------------------------------------------
    def _authenticate(self, operation: Operation, params: dict[str, str], headers: dict[str, str]) -> tuple[str, str]:
        scheme, _, value = next((v for k, v in headers.items() if k.lower() == "authorization"), "").partition(" ")
        if operation.template.startswith("/app/"):
            if scheme.lower() != "bearer":
                raise _error(401, "A JSON web token could not be decoded")
            self._verify_jwt(value)
            return "jwt", "app"
        if scheme.lower() not in ("token", "bearer"):
            raise _error(401, "Requires authentication")
        if value in self.plain_tokens:
            if operation.operation_id in APP_ONLY:
                raise HTTPAnswer(403, {"message": "You must authenticate via a GitHub App.",
                                       "documentation_url": f"{DOCS}/checks/runs#create-a-check-run"})
            return "token", f"token:{value[:6]}"
        issued = self.tokens.get(value)
        if issued is None or issued[1] < time.time():
            raise _error(401, "Bad credentials")
        repos = self.installations.get(issued[0])
        repo = f"{params.get('owner', '')}/{params.get('repo', '')}".lower()
        if repos is not None and repo not in {r.lower() for r in repos}:
            raise _error(404, "Not Found")  # GitHub hides repositories the installation cannot see
        return "installation", f"installation:{issued[0]}"

    def _verify_jwt(self, token: str) -> None:
        claims: dict[str, Any] | None = None
        for public_key in list(self._public_keys.values()):  # any key the App holds now
            try:
                claims = jwt.decode(token, public_key, algorithms=["RS256"],
                                    options={"require": ["iat", "exp", "iss"], "verify_iat": False})
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise _error(401, "'Expiration time' claim ('exp') must be a numeric value representing the "
                             "future time at which the assertion expires") from None
            except jwt.PyJWTError:
                raise _error(401, "A JSON web token could not be decoded") from None
        if claims is None:
            raise _error(401, "A JSON web token could not be decoded")
        now = time.time()
        if str(claims["iss"]) != self.app_id:
            raise _error(401, "'Issuer' claim ('iss') must be an Integer")
        if claims["iat"] > now + 1:
            raise _error(401, "'Issued at' claim ('iat') must be an Integer representing a time in the past")
        if claims["exp"] - claims["iat"] > JWT_MAX_LIFETIME_S or claims["exp"] > now + 600:
            raise _error(401, "'Expiration time' claim ('exp') is too far in the future")

    def _rate_limit(self, identity: str) -> dict[str, str]:
        with self._lock:
            used = self._used[identity] = self._used.get(identity, 0) + 1
        headers = {"x-ratelimit-limit": str(self.rate_limit),
                   "x-ratelimit-remaining": str(max(0, self.rate_limit - used)), "x-ratelimit-used": str(used),
                   "x-ratelimit-reset": str(int(time.time() + self.rate_limit_window_s)),
                   "x-ratelimit-resource": "core"}
        if used > self.rate_limit:
            raise HTTPAnswer(403, {"message": "API rate limit exceeded.", "documentation_url": DOCS}, headers)
        return headers

    # --- operations -------------------------------------------------------------------------
    def _operate(self, operation: Operation, params: dict[str, str], query: dict[str, list[str]],
                 body: Any) -> tuple[int, Any, dict[str, str]]:
        handler = getattr(self, "_op_" + operation.operation_id.replace("/", "_").replace("-", "_"))
        result: tuple[int, Any, dict[str, str]] = handler(params, query, body)
        return result

    def _op_apps_create_installation_access_token(self, params: dict[str, str], query: Any,
                                                  body: Any) -> tuple[int, Any, dict[str, str]]:
        installation = int(params["installation_id"])
        if installation not in self.installations:
            raise _error(404, "Not Found")
        token = "ghs_" + secrets.token_hex(18)
        expires = time.time() + self.token_ttl_s
        with self._lock:
            self.tokens[token] = (installation, expires)
        repos = self.installations[installation]
        return 201, {"token": token, "expires_at": _now_iso(expires), "permissions": {"checks": "write"},
                     "repository_selection": "all" if repos is None else "selected"}, {}

    def _user(self, login: str = "tekton-dag[bot]") -> dict[str, Any]:
        _, payload = fixture("pull_request.opened")
        user: dict[str, Any] = payload["sender"]
        user["login"] = login
        return user

    def _check_run(self, run_id: int, repo: str, fields: dict[str, Any]) -> dict[str, Any]:
        output = fields.get("output") or {}
        base = f"https://api.github.com/repos/{repo}"
        return {"id": run_id, "node_id": f"CR_{run_id}", "head_sha": fields["head_sha"], "name": fields["name"],
                "url": f"{base}/check-runs/{run_id}", "html_url": f"https://github.com/{repo}/runs/{run_id}",
                "details_url": fields.get("details_url"), "status": fields.get("status", "queued"),
                "conclusion": fields.get("conclusion"), "started_at": _now_iso(), "completed_at":
                _now_iso() if fields.get("conclusion") else None, "external_id": fields.get("external_id", ""),
                "check_suite": {"id": fields.get("check_suite_id", 1)}, "app": None, "pull_requests": [],
                "output": {"title": output.get("title"), "summary": output.get("summary"), "text": None,
                           "annotations_count": 0, "annotations_url": f"{base}/check-runs/{run_id}/annotations"}}

    @staticmethod
    def _check_output_fits(body: Any) -> None:
        """GitHub measures ``output.summary`` and ``output.text`` in UTF-8 bytes, not the characters
        its OpenAPI description says (github/docs#35252: 422 "summary exceeds a maximum bytesize of
        65535"), so the schema's maxLength passes what github.com refuses."""
        output = body.get("output") if isinstance(body, dict) else None
        for name in ("summary", "text"):
            value = output.get(name) if isinstance(output, dict) else None
            if isinstance(value, str) and len(value.encode()) > 65535:
                raise _error(422, "Validation Failed", errors=[{
                    "resource": "CheckRun", "code": "custom", "field": name,
                    "message": f"{name} exceeds a maximum bytesize of 65535"}])

    @staticmethod
    def _check_run_rules(body: Any) -> None:
        """What GitHub refuses in a check run that the schemas of checks/create and checks/update
        do not encode: a ``conclusion`` is "Required if you provide `completed_at` or a `status` of
        `completed`", and "You cannot change a check run conclusion to `stale`, only GitHub can set
        this" (operations.json, the description of ``conclusion``); a ``details_url`` that is not
        http(s). GitHub answers 422; nothing is stored. (The statuses only GitHub Actions may set
        are refused by the schemas already.)"""
        fields = body if isinstance(body, dict) else {}
        problems: list[tuple[str, str, str]] = []  # (field, code, message)
        if fields.get("conclusion") is None and (fields.get("status") == "completed" or "completed_at" in fields):
            problems.append(("conclusion", "missing_field", "conclusion is required with completed or completed_at"))
        if fields.get("conclusion") == "stale":
            problems.append(("conclusion", "invalid", "conclusion stale can only be set by GitHub"))
        # Not in the description: GitHub's own 422 (packit/packit-service#1169, an empty details_url).
        url = fields.get("details_url")
        if isinstance(url, str) and urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
            problems.append(("details_url", "custom", "details_url must use the http or https scheme"))
        if problems:
            raise _error(422, "Validation Failed", errors=[
                {"resource": "CheckRun", "code": code, "field": name, "message": message}
                for name, code, message in problems])

    def _op_checks_create(self, params: dict[str, str], query: Any, body: Any) -> tuple[int, Any, dict[str, str]]:
        self._check_output_fits(body)
        self._check_run_rules(body)
        run_id = next(self._ids)
        repo = f"{params['owner']}/{params['repo']}"
        if body.get("conclusion") is not None:
            body = {**body, "status": "completed"}  # GitHub: a conclusion sets status completed
        with self._lock:
            suite = self.check_suites.setdefault((repo.lower(), body["head_sha"]), next(self._ids))
            self.check_runs[run_id] = {"repo": repo, "check_suite_id": suite, **body}
        return 201, self._check_run(run_id, repo, self.check_runs[run_id]), {}

    def _op_checks_list_for_suite(self, params: dict[str, str], query: dict[str, list[str]],
                                  body: Any) -> tuple[int, Any, dict[str, str]]:
        """The suite's check runs, newest first; ``check_name``: only those of that name ("Returns check
        runs with the specified `name`", the parameter's description); ``filter=latest`` (GitHub's
        default): the newest of each name. Paged as GitHub pages (``_numbered_page``); ``total_count``
        counts them all. (``status``, the other filter, is not modelled: tekton-dag does not send it.)"""
        repo, suite = f"{params['owner']}/{params['repo']}", int(params["check_suite_id"])
        if suite not in self.check_suites.values():
            raise _error(404, "Not Found")
        name = query.get("check_name", [None])[-1]
        with self._lock:
            runs = sorted(((i, r) for i, r in self.check_runs.items()
                           if r["check_suite_id"] == suite and r["repo"].lower() == repo.lower()
                           and name in (None, r["name"])), reverse=True)
        if query.get("filter", ["latest"])[-1] == "latest":
            newest: dict[str, tuple[int, dict[str, Any]]] = {}
            for run_id, run in runs:
                newest.setdefault(run["name"], (run_id, run))
            runs = list(newest.values())
        page, headers = self._numbered_page(runs, query, f"/repos/{repo}/check-suites/{suite}/check-runs")
        return 200, {"total_count": len(runs),
                     "check_runs": [self._check_run(i, r["repo"], r) for i, r in page]}, headers

    def _numbered_page(self, items: list[Any], query: dict[str, list[str]],
                       path: str) -> tuple[list[Any], dict[str, str]]:
        """Page ``page`` (from 1) of ``per_page`` items, as GitHub pages a listing
        (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api):
        ``per_page`` as ``_per_page`` takes it, and a ``Link`` header when there is more than one page:
        rel="prev" and rel="first" after the first page, rel="next" and rel="last" before the last, each
        the request's URL with its other query parameters kept."""
        per_page = self._per_page(query)
        try:
            number = int(query.get("page", ["1"])[-1])
        except ValueError:  # the contract's check refuses it first
            raise _error(422, "page must be an integer") from None
        if number < 1:  # what GitHub answers to it is not modelled: refused
            raise _error(422, "page must be at least 1 (the double does not model less)")
        last = max(1, -(-len(items) // per_page))
        kept = {name: values[-1] for name, values in query.items() if name not in ("per_page", "page")}

        def link(to: int) -> str:
            return f"{self.url}{path}?{urllib.parse.urlencode({**kept, 'per_page': per_page, 'page': to})}"

        rels = [(number - 1, "prev"), (number + 1, "next"), (last, "last"), (1, "first")]
        links = [f'<{link(to)}>; rel="{rel}"' for to, rel in rels
                 if (rel in ("prev", "first") and number > 1) or (rel in ("next", "last") and number < last)]
        return items[(number - 1) * per_page: number * per_page], {"link": ", ".join(links)} if links else {}

    @staticmethod
    def _per_page(query: dict[str, list[str]]) -> int:
        """A listing's ``per_page`` as GitHub takes it: 30 when absent, and more than 100 taken as 100,
        not refused. The parameter's description says "The number of results per page (max 100)" and its
        schema sets no maximum (``per-page`` in operations.json); GitHub's pagination guide: "For most
        endpoints, the maximum value of `per_page` is `100`. If you specify a value greater than the
        maximum, GitHub does not return an error. Instead, the value is automatically reduced to the
        maximum" (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
        #changing-the-number-of-items-per-page; so since 2012: github-tools/github#25, "github ignores
        per_page values larger than 100"). Below 1: GitHub's answer is not modelled, refused (422)."""
        try:
            per_page = int(query.get("per_page", ["30"])[-1])
        except ValueError:  # the contract's check refuses it first
            raise _error(422, "per_page must be an integer") from None
        if per_page < 1:
            raise _error(422, "per_page must be at least 1 (the double does not model less)")
        return min(per_page, 100)

    def _op_checks_update(self, params: dict[str, str], query: Any, body: Any) -> tuple[int, Any, dict[str, str]]:
        run_id = int(params["check_run_id"])
        self._check_output_fits(body)
        self._check_run_rules(body)
        with self._lock:
            stored = self.check_runs.get(run_id)
            if stored is None or stored["repo"].lower() != f"{params['owner']}/{params['repo']}".lower():
                raise _error(404, "Not Found")
            stored.update(body)
            if body.get("conclusion") is not None:
                stored["status"] = "completed"
            return 200, self._check_run(run_id, stored["repo"], stored), {}

    def _op_repos_create_commit_status(self, params: dict[str, str], query: Any,
                                       body: Any) -> tuple[int, Any, dict[str, str]]:
        status_id = next(self._ids)
        stored = {"repo": f"{params['owner']}/{params['repo']}", "sha": params["sha"], **body}
        with self._lock:
            self.statuses.append(stored)
        return 201, {"url": f"https://api.github.com/repos/{stored['repo']}/statuses/{params['sha']}",
                     "avatar_url": None, "id": status_id, "node_id": f"SC_{status_id}", "state": body["state"],
                     "description": body.get("description"), "target_url": body.get("target_url"),
                     "context": body.get("context", "default"), "created_at": _now_iso(), "updated_at": _now_iso(),
                     "creator": self._user()}, {}

    def _op_issues_create_comment(self, params: dict[str, str], query: Any,
                                  body: Any) -> tuple[int, Any, dict[str, str]]:
        comment_id = next(self._ids)
        repo = f"{params['owner']}/{params['repo']}"
        with self._lock:
            self.comments.append({"repo": repo, "issue_number": int(params["issue_number"]), "body": body["body"]})
        url = f"https://api.github.com/repos/{repo}/issues"
        return 201, {"id": comment_id, "node_id": f"IC_{comment_id}", "url": f"{url}/comments/{comment_id}",
                     "html_url": f"https://github.com/{repo}/pull/{params['issue_number']}#issuecomment-{comment_id}",
                     "issue_url": f"{url}/{params['issue_number']}", "body": body["body"], "user": self._user(),
                     "created_at": _now_iso(), "updated_at": _now_iso(), "author_association": "NONE"}, {}

    def _op_repos_get_collaborator_permission_level(self, params: dict[str, str], query: Any,
                                                    body: Any) -> tuple[int, Any, dict[str, str]]:
        repo = f"{params['owner']}/{params['repo']}".lower()
        role = self.permissions.get((repo, params["username"].lower()), "none")  # set_permission takes the role
        # "The `permission` attribute provides the legacy base roles of `admin`, `write`, `read`, and
        # `none`, where the `maintain` role is mapped to `write` and the `triage` role is mapped to
        # `read`. The `role_name` attribute provides the name of the assigned role" (this operation's
        # description in operations.json).
        permission = {"maintain": "write", "triage": "read"}.get(role, role)
        user = {**self._user(params["username"]), "permissions": {
            "admin": role == "admin", "maintain": role in ("admin", "maintain"),
            "push": role in ("admin", "maintain", "write"), "triage": role != "none" and role != "read",
            "pull": role != "none"}, "role_name": role}
        return 200, {"permission": permission, "role_name": role, "user": user}, {}

    def _op_pulls_get(self, params: dict[str, str], query: Any, body: Any) -> tuple[int, Any, dict[str, str]]:
        pull = self.pulls.get((f"{params['owner']}/{params['repo']}".lower(), int(params["pull_number"])))
        if pull is None:
            raise _error(404, "Not Found")
        return 200, pull, {}

    def _list(self, hook: str, params: dict[str, str], query: dict[str, list[str]],
              path: str) -> tuple[int, Any, dict[str, str]]:
        per_page = self._per_page(query)
        cursor = query.get("cursor", [""])[-1]
        wanted = query.get("status", [""])[-1]
        with self._lock:
            items = sorted(self.deliveries.get(hook, []), key=lambda d: d.id, reverse=True)  # newest first
        if cursor:
            try:
                before = int(cursor.removeprefix("v1_"))
            except ValueError:
                raise _error(400, "Invalid cursor") from None
            items = [d for d in items if d.id < before]
        if wanted:
            items = [d for d in items if (200 <= d.status_code < 300) == (wanted == "success")]
        page, rest = items[:per_page], items[per_page:]
        headers = {}
        if rest:
            link = f"{self.url}{path}?{urllib.parse.urlencode({'per_page': per_page, 'cursor': f'v1_{page[-1].id}'})}"
            headers["link"] = f'<{link}>; rel="next"'
        return 200, [d.item() for d in page], headers

    def _redeliver(self, hook: str, delivery_id: int) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            original = next((d for d in self.deliveries.get(hook, []) if d.id == delivery_id), None)
        if original is None:
            raise _error(404, "Not Found")
        self.deliver(original.event, json.loads(original.body), hook=hook, guid=original.guid, redelivery=True)
        return 202, {}, {}

    def _op_apps_list_webhook_deliveries(self, params: dict[str, str], query: dict[str, list[str]],
                                         body: Any) -> tuple[int, Any, dict[str, str]]:
        return self._list("app", params, query, "/app/hook/deliveries")

    def _op_apps_redeliver_webhook_delivery(self, params: dict[str, str], query: Any,
                                            body: Any) -> tuple[int, Any, dict[str, str]]:
        return self._redeliver("app", int(params["delivery_id"]))

    def _op_repos_list_webhook_deliveries(self, params: dict[str, str], query: dict[str, list[str]],
                                          body: Any) -> tuple[int, Any, dict[str, str]]:
        hook = f"{params['owner']}/{params['repo']}#{params['hook_id']}"
        return self._list(hook, params, query,
                          f"/repos/{params['owner']}/{params['repo']}/hooks/{params['hook_id']}/deliveries")

    def _op_repos_redeliver_webhook_delivery(self, params: dict[str, str], query: Any,
                                             body: Any) -> tuple[int, Any, dict[str, str]]:
        hook = f"{params['owner']}/{params['repo']}#{params['hook_id']}"
        return self._redeliver(hook, int(params["delivery_id"]))


@contextlib.contextmanager
def github_api(**options: Any) -> Iterator[GitHubApiDouble]:
    with GitHubApiDouble(**options) as double:
        yield double


def main(argv: list[str] | None = None) -> int:
    """``python -m tekton_dag.testing.github_api --port P --key-file F [--webhook-url U --webhook-secret S]``:
    serve the double for hand-driven development (``GITHUB_API_URL=http://127.0.0.1:P``,
    ``GITHUB_APP_PRIVATE_KEY_FILE=F``), printing each call, until interrupted."""
    import argparse
    import signal
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m tekton_dag.testing.github_api", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key-file", type=Path, required=True, help="where to write the App's private key")
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret", default="")
    args = parser.parse_args(argv)
    double = GitHubApiDouble(webhook_url=args.webhook_url, webhook_secret=args.webhook_secret,
                             on_call=lambda c: print(f"github: {c.method} {c.path} → {c.status} "
                                                     f"({c.operation or 'unknown'}, {c.credential})", flush=True))
    stopped = threading.Event()
    # SIGTERM as well as SIGINT, and SIGINT even where it was inherited ignored (a process started
    # in the background by a non-interactive shell ignores SIGINT, and Python keeps that).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    double.start(args.port)  # after the handlers: the line printed below means a signal stops it
    args.key_file.write_text(double.private_key_pem)
    args.key_file.chmod(0o600)
    print(f"GitHub API double at {double.url}: GITHUB_API_URL={double.url} GITHUB_APP_ID={double.app_id} "
          f"GITHUB_APP_PRIVATE_KEY_FILE={args.key_file} (installation 1001 covers every repository)", flush=True)
    try:
        stopped.wait()
    finally:
        double.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
