"""The CloudEvent functions' intake: a request Knative's ingress would refuse gets a 4xx naming why.

func-python decodes every request (any method, any path but its probes) with the Python
CloudEvents SDK before a handler runs (func_python/cloudevent.py ``ASGIApplication.__call__`` and
``decode_event``, func-python 0.8.1). That SDK fills in what a sender left out (an ``id``, binary
mode's ``specversion``), takes any ``ce-`` header to mean binary mode, and raises
``AttributeError`` on a batch or ``RecursionError`` on deeply nested data, which func-python
answers 500 (a Broker retries a 500); what it does refuse gets "Bad Request: This endpoint
expects CloudEvent requests.", naming nothing. It reads a body of any size into memory, and a
body cut short (a bad chunk) as if it were whole. ``Intake`` answers first, as Knative's ingress
would: a method but POST is a 405; a body over ``MAX_EVENT_BYTES`` a 413, refused by
``Content-Length`` or as soon as it grows past it; a body that ends early a 400; a message the SDK
cannot read as an event (``events.codec.readable`` for Knative's rules, cited there, then the SDK
itself for the attributes' values) a 400 with the reason. The event it decoded is handed to
func-python (``decode_event`` looks in the scope first), so a request is decoded once.
"""

from __future__ import annotations

import sys
from typing import Any, Final

from tekton_dag.events import codec
from tekton_dag.syntax import ascii_digits
from tekton_dag.webhooks.asgi import Receive, Scope, Send, headers_of, reply_raw

HEALTH_PATHS = ("/health/liveness", "/health/readiness")  # func-python's probes, not events
# Larger than any event the chain carries: the largest, Tekton's, holds one PipelineRun, which
# etcd stores only up to 1.5 MiB (docs/testing.md); our own events are a few hundred bytes.
MAX_EVENT_BYTES: Final = 4 * 1024 * 1024
DECODED: Final = "tekton_dag.event"  # the scope key of the event Intake decoded


def wrap(app: Any) -> Any:
    """``app`` behind ``Intake`` when it is func-python's CloudEvent application, else ``app``
    (an HTTP function reads its own requests). Nothing is imported to tell."""
    module = sys.modules.get("func_python.cloudevent")
    if module is None or not isinstance(app, module.ASGIApplication):
        return app
    original = getattr(module, "decode_event")  # noqa: B009 (func-python ships no types)
    if not getattr(original, "tekton_dag_decoded", False):

        async def decode_event(scope: Scope, receive: Receive) -> Any:
            event = scope.get(DECODED)
            return event if event is not None else await original(scope, receive)

        decode_event.tekton_dag_decoded = True  # type: ignore[attr-defined]
        setattr(module, "decode_event", decode_event)  # noqa: B010
    return Intake(app)


class Intake:
    """ASGI middleware in front of func-python's CloudEvent application (module docstring)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in HEALTH_PATHS:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":  # func-python would decode it, and a handler act on it
            await _answer(send, 405, f"method {scope['method'][:16]} not allowed: CloudEvents are POSTed",
                          [(b"allow", b"POST")])
            return
        headers = headers_of(scope)
        declared = headers.get("content-length", "")
        if ascii_digits(declared) and int(declared) > MAX_EVENT_BYTES:
            await _answer(send, 413, _too_large())
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The body ended early: a bad chunk, or the client left (then nobody reads this),
                # or the body's deadline passed (then Bounded answered 408 and drops this).
                await _answer(send, 400, "request body incomplete: the connection ended before the body did")
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_EVENT_BYTES:
                await _answer(send, 413, _too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            read_by = codec.readable(headers, body)
            event = codec.from_readable(read_by, body)
        except codec.EventDecodeError as exc:
            await _answer(send, 400, str(exc))
            return
        scope = {**scope, DECODED: event}
        if not any(name.startswith("ce-") for name in read_by):  # structured mode: its ce- headers are dropped
            scope["headers"] = [(n, v) for n, v in scope["headers"] if not n.lower().startswith(b"ce-")]
        await self.app(scope, receive, send)


def _too_large() -> str:
    return f"request body over {MAX_EVENT_BYTES // (1024 * 1024)} MiB: no event is that large"


async def _answer(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await reply_raw(send, status, text.encode(), "text/plain", headers)
