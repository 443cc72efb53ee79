"""In-process delivery for the all-in-one: the bus calls its handlers, no HTTP in between.

The all-in-one's bus and its five handlers share one process, so an event hop needs no HTTP
request: ``subscriber(handler)`` calls the handler's ``handle(scope, receive, send)`` the way
func-python's cloudevent middleware does (``scope["event"]`` the decoded event, ``send`` with
``binary`` / ``structured`` / ``http``), and ``InProcessPublisher`` admits what a handler publishes
straight into the Broker. What an HTTP hop would do is kept:

- the event a handler gets went through the same CloudEvents binary-mode encode and decode as
  on the wire (``transported``): handlers see the same attribute types and a fresh copy of the
  data, never an object another subscriber also holds;
- what a handler publishes or replies reaches the Broker with its attributes as the wire gives
  them (``handed_over``) but its data not copied: as with a request body already sent, the
  sender never touches an event again after handing it over (each handler builds a new event
  for every publish and reply), the Broker only reads it, and every delivery copies it anyway.
  The copy at this end was a third of the bus's copying per webhook;
- the Broker's ingress checks the seal of what is published (``LocalBroker.ingest``, the same
  code as its HTTP ingress), the handlers check it again, as in the chain;
- the answer is read with the Broker's HTTP rules (``LocalBroker.outcome``): 2xx with a reply,
  2xx empty, retryable or final failures; a handler that raises is a 500 (what func-python
  answers), retried; a handler slower than the DeliverySpec timeout is cut off and retried;
- journalling, retries, dead letters and TTL are the Broker's, unchanged.

Measured (docs/performance.md): the httpx client, ASGI transport and func-python middleware
cost about a third of the all-in-one's CPU per webhook.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.eventing.publishing import PublishError
from tekton_dag.eventing.wire import decode_event
from tekton_dag.observability import metrics

if TYPE_CHECKING:
    from tekton_dag.bus.deadletters import Outcome

log = logging.getLogger("tekton_dag.broker")

JSON = "application/json"

# Delivers one event to one subscriber within ``timeout`` seconds: (status, reply, body text).
Subscriber = Callable[[CloudEvent, float], Awaitable[tuple[int, CloudEvent | None, str]]]


class Ingress(Protocol):
    """The Broker's ingress decision (``LocalBroker.ingest``): (status, reason)."""

    async def ingest(self, event: BaseCloudEvent) -> tuple[int, str]: ...


class CloudEventHandler(Protocol):
    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None: ...


def transported(event: CloudEvent) -> CloudEvent:
    """``event`` as the receiving end of an HTTP hop would decode it (binary mode).

    The common case, JSON data in a JSON event, is built directly: every attribute as the text a
    header carries (``time`` stays a timestamp, which the decoder parses back) and a fresh copy of
    the data through ``json`` (what the decoder parses). tests/broker/test_inprocess.py checks it
    against the CloudEvents codec's round trip; anything else takes that round trip itself."""
    data = event.get_data()
    attributes = event.get_attributes()
    if isinstance(data, dict) and attributes.get("datacontenttype") == JSON:
        try:
            copied = json.loads(json.dumps(data))
        except (TypeError, ValueError):
            return wire_round_trip(event)
        return CloudEvent({k: v if isinstance(v, datetime) else str(v) for k, v in attributes.items()}, copied)
    return wire_round_trip(event)


def handed_over(event: CloudEvent) -> CloudEvent:
    """``event`` as the Broker's end of an HTTP hop would see its attributes (text, ``time`` a
    timestamp), the data not copied (module docstring); anything but JSON data in a JSON event
    takes the wire round trip."""
    data = event.get_data()
    attributes = event.get_attributes()
    if isinstance(data, dict) and attributes.get("datacontenttype") == JSON:
        if all(type(v) is str or isinstance(v, datetime) for v in attributes.values()):
            return event  # already what the wire gives
        return CloudEvent({k: v if isinstance(v, datetime) else str(v) for k, v in attributes.items()}, data)
    return wire_round_trip(event)


def wire_round_trip(event: CloudEvent) -> CloudEvent:
    """``event`` encoded in binary mode and decoded, as over HTTP."""
    message = to_binary_event(event)
    decoded = decode_event(dict(message.headers), message.body)
    assert isinstance(decoded, CloudEvent)  # a 1.0 event decodes as one
    return decoded


class _Answer:
    """func-python's ``CloudEventSender`` interface, keeping the answer instead of encoding it."""

    def __init__(self) -> None:
        self.status = 0
        self.reply: CloudEvent | None = None
        self.body = b""

    async def __call__(self, event: CloudEvent, status: int = 200) -> None:
        self.reply, self.status = event, status

    structured = binary = __call__

    async def http(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        else:
            self.body += message.get("body", b"")


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def subscriber(handler: CloudEventHandler, name: str) -> Subscriber:
    """Deliver to ``handler`` (a cloudevent function) in process."""

    async def deliver(event: CloudEvent, timeout: float) -> tuple[int, CloudEvent | None, str]:
        answer = _Answer()
        scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "event": transported(event)}
        try:
            # ``timeout()`` runs the handler in the delivering task: ``wait_for`` (3.11) made a task per delivery.
            async with asyncio.timeout(timeout):
                await handler.handle(scope, _no_body, answer)
        except TimeoutError:
            return 504, None, f"{name} did not answer within {timeout:g} s"
        except Exception as exc:  # func-python answers 500 to a handler that raises
            log.exception("%s failed on %s %s", name, event.get_type(), event.get_id())
            return 500, None, f"{name} failed: {exc}"
        reply = handed_over(answer.reply) if answer.reply is not None else None
        return answer.status, reply, answer.body.decode("utf-8", "replace")

    return deliver


class InProcessPublisher:
    """A ``Publisher`` whose sink is the in-process Broker's ingress (same checks, no HTTP)."""

    def __init__(self, broker: Ingress) -> None:
        self.broker = broker
        self.sink = "in-process"

    async def publish(self, event: CloudEvent) -> None:
        status, reason = await self.broker.ingest(handed_over(event))
        if not 200 <= status < 300:
            metrics.EVENTS_PUBLISHED.labels(event.get_type(), "failed").inc()
            raise PublishError(f"in-process bus answered {status}: {reason}")
        metrics.EVENTS_PUBLISHED.labels(event.get_type(), "ok").inc()

    async def aclose(self) -> None:
        return None


def outcome_of(status: int, reply: BaseCloudEvent | None, text: str, where: str) -> Outcome:
    """The Broker's reading of an in-process answer: its HTTP rules (module docstring)."""
    from tekton_dag.bus.deadletters import Outcome
    from tekton_dag.bus.delivery import is_retryable

    if not 200 <= status < 300:
        return Outcome(ok=False, retryable=is_retryable(status), status=status,
                       detail=f"{where} answered {status}: {text[:200]}", body=text.encode())
    if reply is None and not text:  # any 2xx alike, 202 included (LocalBroker's docstring)
        return Outcome(ok=True, status=status)
    if reply is None:  # Knative's filter turns a non-CloudEvent reply body into an empty 502 (broker.py)
        return Outcome(ok=False, retryable=True, status=502, detail=f"{where} replied with a non-CloudEvent body",
                       error_info=False)
    return Outcome(ok=True, status=status, reply=reply)
