"""One HTTP POST of an event, as the Broker and the publishers send it: ``Poster``.

Each event hop is one POST and most of what a hop costs the sender is the HTTP client. On the
2-core machine (``bench/chain_throughput.py``, docs/performance.md) a loopback POST of a 3 KB
event cost the sending process 0.64-0.76 ms of CPU through httpx's interface over aiohttp
(``httpx-aiohttp``: httpx builds the request, merges headers, copies cookies out of every
response into its jar, wraps the answer) and 0.28 ms through aiohttp's own client. So the network
path (``AiohttpPoster``) is aiohttp's ``ClientSession`` directly, with a ``DummyCookieJar``:
events carry no cookies, and a Broker must never send one subscriber's cookies to another.

``HttpxPoster`` puts an ``httpx.AsyncClient`` behind the same interface: tests hand one whose
transport answers in process (``httpx.MockTransport``, ``httpx.ASGITransport``), and the Broker
uses one when it is given ``mounts`` (in-process ASGI subscribers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import aiohttp
    import httpx  # only with a client handed in (tests, the Broker's mounts): functions start without it

DEFAULT_MAX_CONNECTIONS = 100
# An idle pooled connection is dropped after this long: before the functions' hypercorn closes it
# (5 s, ``functions.limits`` HEADER_TIMEOUT_S), so a POST never goes out on a connection the
# server is closing at that moment (it would fail and be retried after the backoff).
IDLE_KEEPALIVE_S = 4.0


@dataclass(frozen=True)
class Answer:
    """What the receiver answered: status, headers (names in lower case) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class PostError(Exception):
    """The POST got no answer (refused, reset, timed out); the message names the cause."""


class Poster(Protocol):
    async def post(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float | None) -> Answer: ...

    async def aclose(self) -> None: ...


def described(exc: BaseException) -> str:
    """``ClassName: message`` of a transport error (just the class when it says nothing)."""
    detail = str(exc).strip()
    return f"{exc.__class__.__name__}: {detail}" if detail else exc.__class__.__name__


class AiohttpPoster:
    """POSTs with aiohttp's client: a pool of keep-alive connections (TCP_NODELAY, aiohttp's
    default) up to ``max_connections``, made on the first POST inside the running loop."""

    def __init__(self, max_connections: int = DEFAULT_MAX_CONNECTIONS):
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        # No Content-Type unless the message has one: an event without datacontenttype must
        # arrive without it, not as aiohttp's default application/octet-stream.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=IDLE_KEEPALIVE_S),
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("Content-Type",),
        )
        return self._session

    def _timeout(self, seconds: float | None) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            import aiohttp

            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return timeout

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float | None) -> Answer:
        import aiohttp

        session = self._session or self._open()
        try:
            async with session.post(
                url, headers=headers, data=body or None, timeout=self._timeout(timeout), allow_redirects=False
            ) as response:
                content = await response.read()
                answer_headers = {name.lower(): value for name, value in response.headers.items()}
                return Answer(response.status, answer_headers, content)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PostError(described(exc)) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxPoster:
    """POSTs through a given ``httpx.AsyncClient`` (closed by ``aclose`` only when ``owned``)."""

    def __init__(self, client: httpx.AsyncClient, owned: bool = False):
        self.client = client
        self.owned = owned

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float | None) -> Answer:
        import httpx  # loaded already: the caller made the client

        try:
            limit = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
            response = await self.client.post(url, headers=dict(headers), content=body, timeout=limit)
        except httpx.HTTPError as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
            raise PostError(described(cause)) from exc
        return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

    async def aclose(self) -> None:
        if self.owned:
            await self.client.aclose()
