"""Publish CloudEvents to a Broker ingress (``K_SINK``) over HTTP, in binary mode.

A publish succeeds only when the Broker answered 2xx. Anything else -- a refusal, a timeout, a
connection error -- raises ``PublishError``, and the caller answers its own caller with a 5xx so
that the delivery is retried (never a 2xx on failure).

Events travel through aiohttp's client (``eventing.posting.AiohttpPoster``: about 0.3 ms of CPU
per hop less than httpx's interface over the same connections). A caller may hand an
``httpx.AsyncClient`` instead (``Wiring.broker``): tests answer in process through its transport.
``network_client`` (httpx's interface over aiohttp's connections, ``httpx-aiohttp``) stays for
the one sender that needs httpx's interface: a local Broker with ``mounts`` (in-process ASGI
subscribers next to network ones, ``LocalBroker.start``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag import warming
from tekton_dag.eventing.posting import AiohttpPoster, HttpxPoster, Poster, PostError
from tekton_dag.observability import metrics

if TYPE_CHECKING:
    import httpx  # imported by network_client, the only user here: a function starts without it (~60 ms)

DEFAULT_TIMEOUT_S = 5.0
# A function is ready in about 0.3 s: importing while it starts would compete for the GIL.
WARM_UP_DELAY_S = 1.0


class PublishError(RuntimeError):
    """The Broker did not accept the event; the event is not published."""


def network_client(
    timeout: float | None, max_connections: int = 100, mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose connections are aiohttp's (see the module docstring); hosts
    in ``mounts`` go to those transports instead. Idle connections are kept up to
    ``max_connections``; aiohttp sets TCP_NODELAY."""
    import aiohttp
    import httpx
    from httpx_aiohttp import AiohttpTransport

    def session() -> aiohttp.ClientSession:  # made on the first request, inside the running loop
        # No Content-Type unless the message has one: an event without datacontenttype must
        # arrive without it, not as aiohttp's default application/octet-stream.
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections), skip_auto_headers=("Content-Type",)
        )

    return httpx.AsyncClient(transport=AiohttpTransport(client=session), timeout=timeout, mounts=dict(mounts or {}))


def warm_up_in_background(delay: float = WARM_UP_DELAY_S) -> None:
    """Import aiohttp (~100 ms) once the function had time to come up, so neither the path to
    ready nor the first events pay for it (a publish before then imports it itself)."""
    warming.in_background(lambda: importlib.import_module("aiohttp"), "http-warm-up", delay)


class EventSink(Protocol):
    """Where a function publishes: a ``Publisher`` (HTTP to ``K_SINK``), or the all-in-one's
    in-process bus (``bus.inprocess.InProcessPublisher``)."""

    async def publish(self, event: CloudEvent) -> None: ...

    async def aclose(self) -> None: ...


class Publisher:
    """Posts events to one sink with a shared connection pool (made on first use, in the loop);
    through ``client`` when one is given (its owner closes it)."""

    def __init__(self, sink: str, client: httpx.AsyncClient | None = None, timeout: float = DEFAULT_TIMEOUT_S):
        self.sink = sink
        self._timeout = timeout
        self._poster: Poster = AiohttpPoster() if client is None else HttpxPoster(client)
        if client is None:
            warm_up_in_background()

    async def publish(self, event: CloudEvent) -> None:
        message = to_binary_event(event)
        try:
            answer = await self._poster.post(self.sink, message.headers, message.body, self._timeout)
        except PostError as exc:
            metrics.EVENTS_PUBLISHED.labels(event.get_type(), "failed").inc()
            raise PublishError(f"broker at {self.sink} unreachable: {exc}") from exc
        if not 200 <= answer.status < 300:
            metrics.EVENTS_PUBLISHED.labels(event.get_type(), "failed").inc()
            raise PublishError(f"broker at {self.sink} answered {answer.status}")
        metrics.EVENTS_PUBLISHED.labels(event.get_type(), "ok").inc()

    async def aclose(self) -> None:
        await self._poster.aclose()
