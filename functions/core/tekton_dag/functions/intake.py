"""The CloudEvent functions' intake: a request Knative's ingress would refuse gets a 400 naming why.

func-python decodes every POST with the Python CloudEvents SDK before a handler runs
(func_python/cloudevent.py ``ASGIApplication.__call__`` and ``decode_event``, func-python 0.8.1).
That SDK fills in what a sender left out (an ``id``, binary mode's ``specversion``), takes any
``ce-`` header to mean binary mode, and raises ``AttributeError`` on a batch, which func-python
answers 500 (a Broker retries a 500); what it does refuse gets "Bad Request: This endpoint expects
CloudEvent requests.", naming nothing. ``Intake`` reads the body first and asks
``events.codec.readable`` (Knative's ingress rules, cited there): a refusal is answered 400 with its
reason, anything else reaches func-python unchanged (the same body; in structured mode without the
``ce-`` headers, which are no attributes there). func-python reads the whole body before decoding
anyway, so holding it here costs no extra wait.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tekton_dag.events import codec
from tekton_dag.webhooks.asgi import Receive, Scope, Send, headers_of, reply_raw

App = Callable[[Scope, Receive, Send], Awaitable[None]]

HEALTH_PATHS = ("/health/liveness", "/health/readiness")  # func-python's probes, not events


def wrap(app: Any) -> Any:
    """``app`` behind ``Intake`` when it is func-python's CloudEvent application, else ``app``
    (an HTTP function reads its own requests). Nothing is imported to tell."""
    module = sys.modules.get("func_python.cloudevent")
    if module is not None and isinstance(app, module.ASGIApplication):
        return Intake(app)
    return app


class Intake:
    """ASGI middleware in front of func-python's CloudEvent application (module docstring)."""

    def __init__(self, app: App):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] in HEALTH_PATHS:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left (or the body's deadline passed, and Bounded answered 408)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            read_by = codec.readable(headers_of(scope), body)
        except codec.EventDecodeError as exc:
            await reply_raw(send, 400, str(exc).encode(), "text/plain")
            return
        if not any(name.startswith("ce-") for name in read_by):  # structured mode: its ce- headers are dropped
            scope = {**scope, "headers": [(n, v) for n, v in scope["headers"] if not n.lower().startswith(b"ce-")]}
        delivered = False

        async def replay() -> Mapping[str, Any]:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
