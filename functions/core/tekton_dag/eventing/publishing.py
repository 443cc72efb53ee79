"""Publish CloudEvents to a Broker ingress (``K_SINK``) over HTTP, in binary mode.

A publish succeeds only when the Broker answered 2xx. Anything else -- a refusal, a timeout, a
connection error -- raises ``PublishError``, and the caller answers its own caller with a 5xx so
that the delivery is retried (never a 2xx on failure).
"""

from __future__ import annotations

import os

import httpx
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent

K_SINK_ENV = "K_SINK"
DEFAULT_TIMEOUT_S = 5.0


class PublishError(RuntimeError):
    """The Broker did not accept the event; the event is not published."""


def sink_from_env() -> str | None:
    """The Broker address Knative injected (SinkBinding or env), or None when not wired."""
    return os.environ.get(K_SINK_ENV) or None


class Publisher:
    """Posts events to one sink with a shared connection pool."""

    def __init__(self, sink: str, client: httpx.AsyncClient | None = None, timeout: float = DEFAULT_TIMEOUT_S):
        self.sink = sink
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None

    async def publish(self, event: CloudEvent) -> None:
        message = to_binary_event(event)
        try:
            response = await self._client.post(self.sink, headers=dict(message.headers), content=message.body)
        except httpx.HTTPError as exc:
            raise PublishError(f"broker at {self.sink} unreachable: {exc.__class__.__name__}") from exc
        if not 200 <= response.status_code < 300:
            raise PublishError(f"broker at {self.sink} answered {response.status_code}")

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
