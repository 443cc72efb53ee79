"""Publish CloudEvents to a Broker ingress (``K_SINK``) over HTTP, in binary mode.

A publish succeeds only when the Broker answered 2xx. Anything else -- a refusal, a timeout, a
connection error -- raises ``PublishError``, and the caller answers its own caller with a 5xx so
that the delivery is retried (never a 2xx on failure).

Events travel through ``network_client``: httpx's interface over aiohttp's connections
(``httpx-aiohttp``, by an httpx maintainer). httpx's own transport (httpcore on anyio) cost about
0.7 ms of CPU per small request on the 2-core machine, aiohttp's about 0.3 ms, and a webhook
crosses three such hops. Keeping httpx's interface keeps every ``httpx`` transport usable in its
place: tests mock the Broker, and the all-in-one function mounts in-process ASGI transports.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Protocol

import httpx
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag import warming
from tekton_dag.observability import metrics

K_SINK_ENV = "K_SINK"
DEFAULT_TIMEOUT_S = 5.0
# A function is ready in about 0.3 s: importing while it starts would compete for the GIL.
WARM_UP_DELAY_S = 1.0


class PublishError(RuntimeError):
    """The Broker did not accept the event; the event is not published."""


def sink_from_env() -> str | None:
    """The Broker address Knative injected (SinkBinding or env), or None when not wired."""
    return os.environ.get(K_SINK_ENV) or None


def network_client(
    timeout: float | None, max_connections: int = 100, mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose connections are aiohttp's (see the module docstring); hosts
    in ``mounts`` go to those transports instead. Idle connections are kept up to
    ``max_connections``; aiohttp sets TCP_NODELAY."""
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    def session() -> aiohttp.ClientSession:  # made on the first request, inside the running loop
        # No Content-Type unless the message has one: an event without datacontenttype must
        # arrive without it, not as aiohttp's default application/octet-stream.
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections), skip_auto_headers=("Content-Type",)
        )

    return httpx.AsyncClient(transport=AiohttpTransport(client=session), timeout=timeout, mounts=dict(mounts or {}))


def failure(exc: httpx.HTTPError) -> str:
    """What went wrong on the wire, named by the error underneath: httpx-aiohttp maps a refused
    connection to ``ConnectTimeout``, while aiohttp's own error says "Cannot connect to host"."""
    cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
    detail = str(cause).strip()
    return f"{cause.__class__.__name__}: {detail}" if detail else cause.__class__.__name__


def warm_up_in_background(delay: float = WARM_UP_DELAY_S) -> None:
    """Import aiohttp (~100 ms) once the function had time to come up, so neither the path to
    ready nor the first events pay for it (a publish before then imports it itself)."""
    warming.in_background(lambda: importlib.import_module("httpx_aiohttp"), "http-warm-up", delay)


class EventSink(Protocol):
    """Where a function publishes: a ``Publisher`` (HTTP to ``K_SINK``), or the all-in-one's
    in-process bus (``bus.inprocess.InProcessPublisher``)."""

    async def publish(self, event: CloudEvent) -> None: ...

    async def aclose(self) -> None: ...


class Publisher:
    """Posts events to one sink with a shared connection pool (made on first use, in the loop)."""

    def __init__(self, sink: str, client: httpx.AsyncClient | None = None, timeout: float = DEFAULT_TIMEOUT_S):
        self.sink = sink
        self._client = client
        self._timeout = timeout
        self._owns_client = client is None
        if client is None:
            warm_up_in_background()

    async def publish(self, event: CloudEvent) -> None:
        if self._client is None:
            self._client = network_client(self._timeout)
        message = to_binary_event(event)
        try:
            response = await self._client.post(self.sink, headers=dict(message.headers), content=message.body)
        except httpx.HTTPError as exc:
            metrics.EVENTS_PUBLISHED.labels(event.get_type(), "failed").inc()
            raise PublishError(f"broker at {self.sink} unreachable: {failure(exc)}") from exc
        if not 200 <= response.status_code < 300:
            metrics.EVENTS_PUBLISHED.labels(event.get_type(), "failed").inc()
            raise PublishError(f"broker at {self.sink} answered {response.status_code}")
        metrics.EVENTS_PUBLISHED.labels(event.get_type(), "ok").inc()

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
