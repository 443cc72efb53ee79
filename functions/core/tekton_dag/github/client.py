"""The GitHub client: ``port.GitHub`` over GitHub's REST API, with App or token auth and rate limits.

Built on gidgethub's sans-I/O layer (``gidgethub.sansio``: URL templates, GitHub's headers, error
classes from the answer) with our own aiohttp session, so every answer's status and headers reach the
retry decision (``limits``) and the metrics. Chosen over githubkit by measurement (docs/functions.md).
The session is aiohttp's own, not httpx over it: on loopback httpx's request and response models
(and its per-response cookie handling) doubled a call's CPU (0.7 against 0.35 ms, docs/performance.md);
httpx's own transport was 1.2-1.7 ms. aiohttp and gidgethub are imported on first use or by ``warm_up``.

- Auth: with ``GITHUB_APP_ID``/key, each call for a ``Repo`` uses its installation's token
  (``auth.InstallationTokens``); the token fetch itself is authenticated with the App's JWT. With
  only a token, every call uses it and ``mode`` is ``statuses``; with both, a ``Repo`` without an
  installation goes with the token, and ``mode_for`` it is ``statuses`` (the Checks API is an App's).
  The key and the token are read again when their mounted files change (``auth``, "Rotation").
- Each call has a deadline (``Settings.deadline_s``): retries of 5xx and timeouts with backoff,
  waits for rate limits, all within it; past it, ``GitHubError(retryable=True)``. A refusal
  (4xx) raises ``GitHubError(retryable=False)`` at once. Every attempt is counted
  (``tektondag_github_api_calls``) and the last ``x-ratelimit-remaining`` kept per installation
  until its ``x-ratelimit-reset`` (``metrics.RateLimitCollector``).
- Rate limits hold off only the installation (or token) that got them (``limits.Throttle``).
- Writes (POST, PATCH, PUT, DELETE) go one at a time per installation (or token), at least
  ``Settings.write_interval_s`` apart (``pacing.Pacer``: GitHub's best practices; per process).
  Reads are not paced, nor is the installation-token request (octokit's ``isAuthRequest``). Writes
  that notify people (``comment``: ``pacing.NOTIFYING``) are also ``Settings.notification_interval_s``
  apart (octokit's ``notifications`` group). Each try of a write takes its turns, a retry too
  (``pacing`` module docstring, "Retries": as octokit retries rate limits; stricter than its 5xx retries).
- ``permission()`` asks GitHub each time: the commands' use case caches the answers
  (``usecases.commanding.PermissionCache``), the one place that knows how long they may be trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
import urllib.parse
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, NoReturn, cast

from tekton_dag.github import auth, limits, pacing
from tekton_dag.github.port import (
    CheckConclusion,
    CheckOutput,
    CheckRun,
    CheckStatus,
    CommitState,
    GitHubError,
    Mode,
    Permission,
    PullRequestHead,
    Repo,
)
from tekton_dag.github.settings import Settings, looks_like_pem
from tekton_dag.observability import metrics
from tekton_dag.syntax import ascii_digits

if TYPE_CHECKING:
    import aiohttp  # imported on first use or by warm_up, as gidgethub is (~7 ms with email's parser)

USER_AGENT: Final = "tekton-dag"  # GitHub requires a User-Agent naming the integration
API_VERSION: Final = "2022-11-28"  # X-GitHub-Api-Version the operations were checked against
ATTEMPT_TIMEOUT_S: Final = 10.0
MAX_CONNECTIONS: Final = 100  # kept open to GitHub; more calls at once wait for one
PERMISSIONS: Final = ("admin", "maintain", "write", "triage", "read", "none")
APP_KEY: Final = "app"
# Its own kind of request to GitHub (octokit/plugin-throttling.js src/wrap-request.ts, isAuthRequest: the
# ``auth`` group, not ``write``); fetched once per installation and hour (auth.InstallationTokens).
TOKEN_TEMPLATE: Final = "/app/installations/{installation_id}/access_tokens"
TOKEN_KEY: Final = "token"
# Listings: GitHub answers a page of ``per_page`` items (default 30, "max 100") and names the next one
# in the ``Link`` header's rel="next", absent on the last page
# (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api). ``pages``
# asks for 100 a page and follows rel="next" up to MAX_PAGES: 10,000 items, more than any listing of
# ours needs (a check suite's check runs, 3 days of one hook's deliveries); a bound against a Link
# that never ends, not a size we expect.
PER_PAGE: Final = 100
MAX_PAGES: Final = 100

log = logging.getLogger(__name__)


class Client:
    """Implements ``tekton_dag.github.port.GitHub``; one per process, used from one event loop."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if settings.app is None and settings.token is None:
            raise ValueError("a GitHub client needs App credentials or a token")
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None  # made by the first call, in its event loop
        self._clock = clock
        self._sleep = sleep
        self._throttle = limits.Throttle(clock, sleep)
        self._pacer = pacing.Pacer(settings.write_interval_s, clock, sleep,
                                   notification_interval_s=settings.notification_interval_s)
        self._tokens = auth.InstallationTokens(self._fetch_token, clock)
        app, token = settings.app, settings.token
        # Both read again when their mounted file changes (auth, "Rotation").
        self._key = auth.MountedCredential(app.private_key, app.key_file, "GITHUB_APP_PRIVATE_KEY_FILE",
                                           looks_like_pem, confirmed=False) if app else None
        self._token = auth.MountedCredential(token, settings.token_file, "GITHUB_TOKEN_FILE") if token else None
        self._app_key: asyncio.Future[Any] | None = None  # the App's key, parsed once per PEM (auth.load_key)
        self._app_key_pem = ""  # the PEM ``_app_key`` parses
        self._good_key: Any = None  # the last parsed key that worked: kept while a new PEM cannot be used

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Client | None:
        """A client configured by the environment (``settings``), or None when it configures none."""
        settings = Settings.from_env(env)
        return None if settings is None else cls(settings)

    @property
    def mode(self) -> Mode:
        return "checks" if self._settings.app is not None else "statuses"

    def mode_for(self, repo: Repo) -> Mode:
        """``statuses`` for a repository the plain token acts on (no App installation named, e.g. a
        repository webhook's run, with both an App and a token): GitHub refuses a token on the
        Checks API ("You must authenticate via a GitHub App.", 403). Without a token, ``checks``:
        the call then names what is missing (``_credentials``)."""
        if self._installation(repo) is not None or self._settings.token is None:
            return self.mode
        return "statuses"

    def _installation(self, repo: Repo | None) -> int | None:
        """The App installation whose token a call for ``repo`` goes with; None: the plain token."""
        return repo.installation_id if self._settings.app is not None and repo is not None else None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def warm_up(self) -> None:
        """Import what the first call needs (aiohttp with its CA bundle, the App's JWT signing),
        e.g. in a background thread after start: ~150 ms that need not delay ready."""
        import aiohttp  # noqa: F401
        import gidgethub.sansio  # noqa: F401

        if self._settings.app is not None:
            auth.warm_up()

    def _client(self) -> aiohttp.ClientSession:
        """The session, made in the running loop (aiohttp's sessions belong to one loop)."""
        if self._session is None:
            import aiohttp

            # Only the headers a call sets: no aiohttp default Content-Type on a call without a body.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
                                                  skip_auto_headers=("Content-Type",))
        return self._session

    # --- port.GitHub -------------------------------------------------------------------------
    async def create_check_run(self, repo: Repo, *, name: str, head_sha: str, external_id: str,
                               status: CheckStatus, conclusion: CheckConclusion | None,
                               output: CheckOutput) -> int:
        body = {"name": name, "head_sha": head_sha, "external_id": external_id,
                **_check_fields(status, conclusion, output)}
        answer = await self.call("create_check_run", repo, "POST", "/repos/{owner}/{repo}/check-runs", {}, body)
        return _int_field(answer, "id", "create_check_run")

    async def update_check_run(self, repo: Repo, check_run_id: int, *, status: CheckStatus,
                               conclusion: CheckConclusion | None, output: CheckOutput) -> None:
        await self.call("update_check_run", repo, "PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}",
                        {"check_run_id": check_run_id}, _check_fields(status, conclusion, output))

    async def suite_check_runs(self, repo: Repo, check_suite_id: int, *, name: str | None = None) -> list[CheckRun]:
        runs: list[CheckRun] = []
        # check_name: GitHub lists only that name's check runs (checks/list-for-suite); None leaves it out
        async for answer in self.pages("suite_check_runs", repo,
                                       "/repos/{owner}/{repo}/check-suites/{check_suite_id}/check-runs"
                                       "{?check_name,per_page}",
                                       {"check_suite_id": check_suite_id, "check_name": name},
                                       deadline=self._clock() + self._settings.deadline_s):
            try:
                runs += [CheckRun(int(run["id"]), str(run["name"]), str(run["status"]), run.get("conclusion"),
                                  str((run.get("output") or {}).get("title") or ""),
                                  str((run.get("output") or {}).get("summary") or ""))
                         for run in answer["check_runs"]]
            except (KeyError, TypeError, ValueError):
                raise GitHubError("suite_check_runs: GitHub's answer has no check_runs with id, name and "
                                  "status") from None
        return runs

    async def set_commit_status(self, repo: Repo, sha: str, *, state: CommitState, context: str,
                                description: str, target_url: str | None) -> None:
        body: dict[str, Any] = {"state": state, "context": context, "description": description[:140]}
        if target_url:
            body["target_url"] = target_url
        await self.call("set_commit_status", repo, "POST", "/repos/{owner}/{repo}/statuses/{sha}", {"sha": sha}, body)

    async def comment(self, repo: Repo, issue_number: int, body: str) -> None:
        await self.call("comment", repo, "POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments",
                        {"issue_number": issue_number}, {"body": body})

    async def permission(self, repo: Repo, user: str) -> Permission:
        answer = await self.call("permission", repo, "GET",
                                 "/repos/{owner}/{repo}/collaborators/{username}/permission", {"username": user})
        value = answer.get("permission") if isinstance(answer, dict) else None
        if value not in PERMISSIONS:
            raise GitHubError(f"permission: GitHub answered an unknown permission {value!r}")
        return cast(Permission, value)

    async def pull_request_head(self, repo: Repo, number: int) -> PullRequestHead:
        answer = await self.call("pull_request_head", repo, "GET", "/repos/{owner}/{repo}/pulls/{pull_number}",
                                 {"pull_number": number})
        try:
            return PullRequestHead(str(answer["head"]["sha"]), str(answer["base"]["ref"]), answer["state"] == "open")
        except (KeyError, TypeError):
            raise GitHubError("pull_request_head: GitHub's answer has no head.sha / base.ref / state") from None

    # --- the transport -----------------------------------------------------------------------
    async def call(self, operation: str, repo: Repo | None, method: str, template: str,
                   url_vars: Mapping[str, Any], body: Any = None, *, as_app: bool = False) -> Any:
        """One API call, retried within the deadline; the decoded answer (see ``call_page``)."""
        answer, _ = await self.call_page(operation, repo, method, template, url_vars, body, as_app=as_app)
        return answer

    async def pages(self, operation: str, repo: Repo | None, template: str, url_vars: Mapping[str, Any], *,
                    as_app: bool = False, deadline: float | None = None) -> AsyncGenerator[Any]:
        """Each page of the GET listing ``template`` (which ends in ``{?per_page}``, or ``{?...,per_page}``
        with other query parameters; a None value is left out of the URL), PER_PAGE items a
        page, following the ``Link`` header's rel="next" (see PER_PAGE) until there is none; the caller
        may stop early. ``deadline`` (on the client's clock): the whole listing's, as one call's (a
        page whose try would fall after it fails retryable, as any call); None: each page its own.
        GitHubError when the next page is not on ``GITHUB_API_URL`` (the token would go with it), or
        when there are more than MAX_PAGES: a listing cut short would be taken for the whole."""
        url: str = template
        variables: Mapping[str, Any] = {**url_vars, "per_page": PER_PAGE}
        base = self._settings.api_url.removesuffix("/") + "/"
        for _ in range(MAX_PAGES):
            page, next_url = await self.call_page(operation, repo, "GET", url, variables, as_app=as_app,
                                                  deadline=deadline)
            yield page
            if next_url is None:
                return
            if not next_url.startswith(base):
                raise GitHubError(f"{operation}: GitHub's next page {next_url[:200]!r} is not under {base}")
            url, variables = next_url, {}  # the Link URL is complete
        raise GitHubError(f"{operation}: more than {MAX_PAGES} pages of {PER_PAGE}: not read to the end")

    async def call_page(self, operation: str, repo: Repo | None, method: str, template: str,
                        url_vars: Mapping[str, Any], body: Any = None, *, as_app: bool = False,
                        deadline: float | None = None) -> tuple[Any, str | None]:
        """(decoded answer, URL of the next page from the ``Link`` header or None).

        ``template`` may be a full URL (a ``Link`` next page). ``as_app``: authenticate as the App
        (its JWT) rather than as an installation — the App's own endpoints need that. ``deadline``
        (on the client's clock): when the call must be done; default ``Settings.deadline_s`` from now."""
        variables = {**({"owner": repo.owner, "repo": repo.name} if repo else {}), **url_vars}
        url = format_url(template, variables, self._settings.api_url)
        raw = b"" if body is None else json.dumps(body).encode()
        if deadline is None:
            deadline = self._clock() + self._settings.deadline_s
        attempt = 0
        while True:
            attempt += 1
            key, authorization = await self._credentials(repo, as_app, operation, deadline)
            paced = method in pacing.MUTATING and template != TOKEN_TEMPLATE
            turn = (self._pacer.turn(key, deadline, notifies=template in pacing.NOTIFYING) if paced
                    else contextlib.nullcontext())
            try:
                async with turn:  # a write holds its turn through the throttle's wait too: no write jumps it
                    await self._unthrottled(operation, key, f"{method} {url}", deadline)
                    outcome = await self._attempt(operation, key, method, url, raw, authorization, attempt, deadline)
            except pacing.Late as exc:
                self._give_up(operation, f"{method} {url}: {exc}", status=None)
            if not isinstance(outcome, limits.Retry):
                return outcome
            retry = outcome
            if retry.rate_limited:
                self._throttle.hold(key, retry.wait_s)
            if self._clock() + retry.wait_s > deadline:
                self._give_up(operation, f"{method} {url}: {retry.reason} and the next try would be "
                                     f"after the {self._settings.deadline_s:g} s deadline", status=None)
            metrics.GITHUB_CALLS.labels(operation, "rate_limited" if retry.rate_limited else "retried").inc()
            await self._sleep(retry.wait_s)

    async def _unthrottled(self, operation: str, key: str, request: str, deadline: float) -> None:
        """Wait until ``key`` is no longer held off by a rate limit; give up when that is after ``deadline``."""
        try:
            await self._throttle.wait(key, deadline)
        except limits.RateLimited as exc:
            self._give_up(operation, f"{request}: {exc}", status=None)

    async def _attempt(self, operation: str, key: str, method: str, url: str, raw: bytes,
                       authorization: dict[str, str], attempt: int,
                       deadline: float) -> limits.Retry | tuple[Any, str | None]:
        """One HTTP exchange: (answer, next page), or the Retry it calls for; GitHubError if hopeless."""
        import gidgethub  # after the first call (or warm_up), dictionary look-ups
        from gidgethub import sansio

        headers = {**sansio.create_headers(USER_AGENT, accept=sansio.accept_format()),
                   "x-github-api-version": API_VERSION, **authorization}
        if raw:
            headers["content-type"] = "application/json; charset=utf-8"
        timeout = max(0.05, min(ATTEMPT_TIMEOUT_S, deadline - self._clock()))
        session = self._client()
        import aiohttp  # imported by _client: a dictionary look-up

        try:
            async with session.request(method, url, headers=headers, data=raw or None,
                                       timeout=aiohttp.ClientTimeout(total=timeout)) as answer:
                status, answer_headers, content = answer.status, answer.headers, await answer.read()
        except TimeoutError:  # aiohttp's timeouts (connect, read, total) are all TimeoutErrors
            return limits.after_timeout(attempt)
        except aiohttp.ClientError as exc:  # refused, reset, a malformed answer
            log.warning("GitHub %s %s: %s: %s", method, url, exc.__class__.__name__, exc)
            # said as it was: a refused connection is no timeout (the final error names the last one)
            return limits.after_timeout(attempt, f"no answer ({exc.__class__.__name__}: {exc})")
        remaining = answer_headers.get("x-ratelimit-remaining")
        if remaining is not None and ascii_digits(remaining):
            reset = answer_headers.get("x-ratelimit-reset", "")  # kept until then (metrics.RateLimitCollector)
            metrics.GITHUB_RATE_LIMITS.observe(key, int(remaining), float(reset) if ascii_digits(reset) else None)
        try:
            data, _, more = sansio.decipher_response(status, answer_headers, content)
        except gidgethub.HTTPException as exc:
            status = int(exc.status_code)
            message = str(exc)
            if status == 401 and key not in (APP_KEY, TOKEN_KEY) and attempt == 1:
                self._tokens.forget(int(key), authorization["authorization"].removeprefix("token "))
                return limits.Retry(0.0, "token_refused", False)
            retry = limits.after_answer(status, answer_headers, message, attempt, self._clock())
            if retry is None:
                metrics.GITHUB_CALLS.labels(operation, "error").inc()
                raise GitHubError(f"{operation}: GitHub answered {method} {url} with {status}: {message}",
                                  status=status, retryable=False) from None
            return retry
        except ValueError as exc:  # a status code http.HTTPStatus does not know, an undecodable body
            metrics.GITHUB_CALLS.labels(operation, "error").inc()
            raise GitHubError(f"{operation}: unreadable answer to {method} {url}: {exc}", status=status) from None
        metrics.GITHUB_CALLS.labels(operation, "ok").inc()
        return data, more

    def _give_up(self, operation: str, reason: str, status: int | None) -> NoReturn:
        metrics.GITHUB_CALLS.labels(operation, "gave_up").inc()
        log.warning("GitHub %s: giving up: %s", operation, reason)
        raise GitHubError(f"{operation}: {reason}", status=status, retryable=True)

    async def _credentials(self, repo: Repo | None, as_app: bool, operation: str,
                           deadline: float) -> tuple[str, dict[str, str]]:
        app = self._settings.app
        if as_app:
            if app is None or self._key is None:
                raise GitHubError(f"{operation}: needs a GitHub App (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY_FILE)")
            key = await self._app_private_key(operation)
            return APP_KEY, {"authorization": f"Bearer {auth.app_jwt(app.app_id, key, self._clock())}"}
        installation = self._installation(repo)
        if installation is not None:
            self._parsing()  # a changed key file is parsed now, not at the next token fetch
            token = await self._tokens.get(installation)
            return str(installation), {"authorization": f"token {token}"}
        if self._token is not None:
            return TOKEN_KEY, {"authorization": f"token {self._token.current()}"}
        raise GitHubError(f"{operation}: {repo.full_name if repo else 'the call'} has no App installation "
                          "and no GITHUB_TOKEN_FILE is configured")

    def _parsing(self) -> asyncio.Future[Any] | None:
        """The parse of the key file's PEM, started when the file changed (checked on every call, not
        only when a JWT is due: an installation token lasts an hour, and the log's "using the new
        one", which an operator waits for before deleting the old key on GitHub, should not)."""
        if self._key is None:
            return None
        pem = self._key.current()
        if self._app_key is None or pem != self._app_key_pem:
            first = self._app_key is None
            self._app_key, self._app_key_pem = asyncio.ensure_future(asyncio.to_thread(auth.load_key, pem)), pem
            self._app_key.add_done_callback(lambda done: self._parsed(done, pem, first))
        return self._app_key

    def _parsed(self, done: asyncio.Future[Any], pem: str, first: bool) -> None:
        """A parse ended: its key is the one to sign with, or, if it failed and an earlier key
        parsed, that one stays (said once); the start's key needs no "changed"."""
        assert self._key is not None
        if done.cancelled() or (done.exception() is None and pem != self._app_key_pem and self._good_key is not None):
            return  # the file changed again meanwhile: the newer parse decides
        if done.exception() is None:
            self._good_key = done.result()
            if not first:
                self._key.adopted()
        elif self._good_key is not None:
            self._key.refuse(pem, str(done.exception()))

    async def _app_private_key(self, operation: str) -> Any:
        """The App's key to sign with: parsed once per PEM, in a thread (~50 ms of CPU that blocked
        the loop), and again only when the key file changes. A new PEM that cannot be used leaves
        the last key that could in use; without one, every App call fails the same way."""
        parsing = self._parsing()
        assert parsing is not None
        try:
            await asyncio.shield(parsing)
        except ValueError as exc:
            if self._good_key is None:
                raise GitHubError(f"{operation}: the GitHub App's private key cannot be used: {exc}") from None
        return self._good_key  # set by _parsed, which the parse's end calls before this resumes

    async def _fetch_token(self, installation_id: int) -> auth.Token:
        answer = await self.call("installation_token", None, "POST", TOKEN_TEMPLATE,
                                 {"installation_id": installation_id}, as_app=True)
        try:
            return auth.Token.from_answer(answer)
        except ValueError as exc:
            raise GitHubError(f"installation_token: {exc}") from None


_SIMPLE_TEMPLATE = re.compile(r"[^{}]*(?:\{[A-Za-z0-9_]+\}[^{}]*)*")


def format_url(template: str, variables: Mapping[str, Any], base_url: str) -> str:
    """``gidgethub.sansio.format_url``, with the same answer, without parsing the template on every
    call: a template of only simple ``{name}`` expressions (every call but a paged listing's) is
    joined to the base once and filled with ``str.format``, each value percent-encoded as RFC 6570's
    simple expansion does (all but unreserved characters). uritemplate's parse and expansion were
    about a quarter of a GitHub call's CPU."""
    joined, simple = _joined(template, base_url)
    if not simple:
        from gidgethub import sansio

        return sansio.format_url(template, variables, base_url=base_url)
    return joined.format_map({name: urllib.parse.quote(str(value), safe="") for name, value in variables.items()})


@functools.lru_cache(maxsize=256)
def _joined(template: str, base_url: str) -> tuple[str, bool]:
    """(the template joined to the base as gidgethub joins it, whether it has only simple expressions)."""
    joined = urllib.parse.urljoin(base_url.removesuffix("/") + "/", template.removeprefix("/"))
    return joined, _SIMPLE_TEMPLATE.fullmatch(joined) is not None


# A check run's output.summary is at most 65535 *bytes* of UTF-8: the REST docs ("Create a check
# run") say "65535 characters", but GitHub answers 422 "summary exceeds a maximum bytesize of 65535"
# (github/docs#35252). Every summary leaves through _check_fields, so it is cut there, once.
MAX_SUMMARY_BYTES: Final = 65535


def _fit_summary(text: str) -> str:
    """``text`` within GitHub's summary limit of UTF-8 bytes, ending in "…" when cut (never in the
    middle of a character)."""
    if len(text) * 4 <= MAX_SUMMARY_BYTES:  # even four bytes a character fits: no encoding needed
        return text
    encoded = text.encode()
    if len(encoded) <= MAX_SUMMARY_BYTES:
        return text
    ellipsis = "…".encode()
    return encoded[: MAX_SUMMARY_BYTES - len(ellipsis)].decode(errors="ignore") + "…"


def _check_fields(status: CheckStatus, conclusion: CheckConclusion | None, output: CheckOutput) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": status,
                              "output": {"title": output.title, "summary": _fit_summary(output.summary)}}
    if conclusion is not None:
        fields["conclusion"] = conclusion
    if output.details_url:
        fields["details_url"] = output.details_url
    return fields


def _int_field(answer: Any, name: str, operation: str) -> int:
    value = answer.get(name) if isinstance(answer, dict) else None
    if not isinstance(value, int):
        raise GitHubError(f"{operation}: GitHub's answer has no integer {name!r}")
    return value
