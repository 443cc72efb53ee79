"""Does ``<name>:<tag>`` exist? ``HEAD /v2/<name>/manifests/<tag>`` against a Distribution registry.

Answers are *present* (200), *absent* (404) or *unknown* (anything else: unreachable, timeout,
credentials missing or refused, 5xx, rate limits). Callers must treat unknown as "cannot tell",
never as present: bootstrap builds such apps and says why.

Auth follows the registry's 401 challenge: ``Bearer`` -> fetch a token from the challenge's realm
(anonymously, or with the host's basic credentials) and retry; ``Basic`` -> retry with the host's
credentials. The challenge is remembered per host, so later requests authenticate up front
instead of paying for a 401 each.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from tekton_dag.oci.challenges import Challenge, parse_challenge
from tekton_dag.oci.credentials import BasicCredentials, CredentialStore
from tekton_dag.oci.references import ImageRef

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPT = ", ".join(MANIFEST_TYPES)
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT_S = 5.0
TOKEN_LIFETIME_S = 60  # the token spec's default when the server gives no expires_in


class Presence(str, enum.Enum):
    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PresenceCheck:
    image: ImageRef
    presence: Presence
    reason: str  # human-readable: "found (sha256:…)", "not found (404)", "registry unreachable: …"


class _Undecided(Exception):
    """The answer is unknown; the message says why."""


class RegistryClient:
    """One client for many checks: a shared connection pool, token cache and concurrency bound."""

    def __init__(
        self,
        credentials: CredentialStore | None = None,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT_S,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._credentials = credentials or CredentialStore()
        self._semaphore = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._client = client or httpx.AsyncClient(timeout=timeout, limits=limits)
        self._owns_client = client is None
        self._challenges: dict[str, Challenge] = {}  # host -> the last challenge it sent
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}  # (realm, service, scope) -> token, expiry

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def presence_of_all(self, images: Iterable[ImageRef]) -> dict[ImageRef, PresenceCheck]:
        """Check every distinct image concurrently (at most ``concurrency`` requests at once)."""
        unique = list(dict.fromkeys(images))
        checks = await asyncio.gather(*(self.presence(image) for image in unique))
        return dict(zip(unique, checks, strict=True))

    async def presence(self, image: ImageRef) -> PresenceCheck:
        async with self._semaphore:
            try:
                return await self._check(image)
            except _Undecided as why:
                return PresenceCheck(image, Presence.UNKNOWN, str(why))

    async def _check(self, image: ImageRef) -> PresenceCheck:
        known = self._challenges.get(image.host)
        response = await self._head(image, await self._authorization(known, image) if known else None)
        if response.status_code == 401:
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
            if challenge is None:
                raise _Undecided("registry answered 401 without an authentication challenge")
            self._challenges[image.host] = challenge
            response = await self._head(image, await self._authorization(challenge, image))
            if response.status_code == 401:
                raise _Undecided(f"registry {image.host} refused the credentials (401)")
        return _classify(image, response)

    async def _head(self, image: ImageRef, authorization: str | None) -> httpx.Response:
        headers = {"Accept": ACCEPT}
        if authorization:
            headers["Authorization"] = authorization
        try:
            return await self._client.head(image.manifest_url, headers=headers)
        except httpx.InvalidURL as exc:  # not an HTTPError: a host image_ref let through must not escape
            raise _Undecided(f"registry {image.host}: not a usable address ({exc})") from exc
        except httpx.HTTPError as exc:
            raise _Undecided(f"registry {image.host} unreachable: {_describe(exc)}") from exc

    async def _authorization(self, challenge: Challenge, image: ImageRef) -> str:
        if challenge.scheme == "bearer":
            return f"Bearer {await self._token(challenge, image)}"
        if challenge.scheme == "basic":
            credentials = self._credentials.for_host(image.host)
            if credentials is None:
                raise _Undecided(f"registry {image.host} requires credentials; none configured for it")
            return _basic(credentials)
        raise _Undecided(f"registry {image.host} asks for unsupported auth scheme {challenge.scheme!r}")

    async def _token(self, challenge: Challenge, image: ImageRef) -> str:
        realm = challenge.realm
        if not realm:
            raise _Undecided(f"registry {image.host} sent a Bearer challenge without a realm")
        service = challenge.params.get("service", "")
        # The challenge's scope names the repository of the request that drew it; with a
        # remembered challenge, other repositories need their own pull scope.
        scope = f"repository:{image.repository}:pull"
        cached = self._tokens.get((realm, service, scope))
        if cached and cached[1] > time.monotonic():
            return cached[0]
        token, lifetime = await self._fetch_token(realm, service, scope, image.host)
        self._tokens[(realm, service, scope)] = (token, time.monotonic() + max(lifetime - 5, 1))
        return token

    async def _fetch_token(self, realm: str, service: str, scope: str, host: str) -> tuple[str, float]:
        params = {"scope": scope, **({"service": service} if service else {})}
        credentials = self._credentials.for_host(host)
        auth = httpx.BasicAuth(credentials.username, credentials.password) if credentials else None
        try:
            response = await self._client.get(realm, params=params, auth=auth)
        except httpx.HTTPError as exc:
            raise _Undecided(f"token server {realm} unreachable: {_describe(exc)}") from exc
        if response.status_code != 200:
            who = "refused the credentials" if credentials else "refused anonymous access"
            raise _Undecided(f"token server {realm} {who} ({response.status_code})")
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
            lifetime = float(body.get("expires_in") or TOKEN_LIFETIME_S)
        except (ValueError, AttributeError, TypeError):
            token = None
        if not isinstance(token, str) or not token:
            raise _Undecided(f"token server {realm} answered without a token")
        return token, lifetime


def _classify(image: ImageRef, response: httpx.Response) -> PresenceCheck:
    status = response.status_code
    if status == 200:
        digest = response.headers.get("docker-content-digest", "")
        return PresenceCheck(image, Presence.PRESENT, f"found ({digest})" if digest else "found")
    if status == 404:
        return PresenceCheck(image, Presence.ABSENT, "not found (404)")
    if status == 403:
        return PresenceCheck(image, Presence.UNKNOWN, f"registry {image.host} denied access (403)")
    if status == 429:
        return PresenceCheck(image, Presence.UNKNOWN, f"registry {image.host} is rate limiting (429)")
    return PresenceCheck(image, Presence.UNKNOWN, f"registry {image.host} answered {status} unexpectedly")


def _basic(credentials: BasicCredentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return f"Basic {base64.b64encode(pair).decode('ascii')}"


def _describe(exc: httpx.HTTPError) -> str:
    return exc.__class__.__name__ + (f" ({exc})" if str(exc) else "")
