"""What a slow or hostile HTTP client may hold in a function: bounded time, bytes and requests.

Every function is served by func-python, on **granian** by default or on func-python's own
hypercorn (0.17) with ``TEKTON_DAG_HTTP_SERVER=hypercorn``. func-python offers no way to configure
or choose its server: its ``serve()`` builds a bare ``hypercorn.config.Config()`` (only ``bind``
set) and calls ``hypercorn.asyncio.serve(self, cfg)`` (func_python/http.py and cloudevent.py,
``ASGIApplication.serve`` / ``_serve``, func-python 0.8.1). So ``install()`` wraps
``hypercorn.asyncio.serve``, which func-python looks up when it serves: the ASGI app it passes is
``Bounded``, and it is served on the sockets func-python bound either by granian
(``tekton_dag.functions.granian_server``, whose docstring cites where granian implements each limit
below) or by hypercorn with the config ``configure``d. func-python still builds the application and
runs its lifecycle either way. The functions' ``function/func.py`` entry points (what a Knative
build runs) and ``tekton-dag serve`` both call it; nothing else changes for func-python.
granian costs about half of hypercorn's CPU per request (docs/performance.md, "granian").

The limits are the same under both servers, except where said: under granian the head size bound
holds for a complete head too, a connection bound replaces the 60 s silence timer, and only
HTTP/1.1 is served (hypercorn also answers h2c); granian_server's docstring has its details.

The limits, with where hypercorn implements them (hypercorn 0.17.3; options documented at
https://hypercorn.readthedocs.io/en/latest/how_to_guides/configuring.html):

- **Request head: 5 s** (``keep_alive_timeout``, env ``TEKTON_DAG_HEADER_TIMEOUT_SECONDS``).
  hypercorn's idle timer starts when a connection is accepted (and again after each answer)
  and only stops once a whole request head has been parsed (asyncio/tcp_server.py ``run`` and
  ``_idle_timeout``; protocol/h11.py sends ``Updated(idle=False)`` on ``h11.Request``), so a
  head sent byte by byte is cut off after 5 s however steadily it trickles. hypercorn closes
  the connection without an answer there; it has no 408 of its own.
- **Request head size: 16 KiB while incomplete** (``h11_max_incomplete_size``): once more than
  that is buffered without a complete head, h11 raises with status hint 431 (h11/_connection.py
  ``next_event``) and hypercorn answers 431 and closes (protocol/h11.py ``_send_error_response``).
  A complete head that arrives in one read (hypercorn reads up to 64 KiB) is parsed.
- **Request body: 10 s** from the complete head (``Bounded``, env
  ``TEKTON_DAG_BODY_TIMEOUT_SECONDS``): then 408 with ``Connection: close``. hypercorn's own
  ``read_timeout`` is per read (asyncio/tcp_server.py ``_read_data``: ``wait_for(read, ...)``),
  so a byte every few seconds would keep it at bay; 10 s is also how long GitHub waits for a
  webhook's answer, so no genuine delivery needs longer.
- **Silence: 60 s** (``read_timeout``): a connection that sends nothing at all for 60 s is
  closed, whatever its state. It must outlast the slowest handler (the Broker's delivery
  timeout is 30 s), since the client is silent while it waits for its answer.
- **Requests in flight: 2,048 per process** (``Bounded``, env ``TEKTON_DAG_MAX_IN_FLIGHT``):
  beyond it, 503 with ``Connection: close`` at once (GitHub and the Broker retry a 503).
  hypercorn has no connection limit; connections still sending their head are bounded in time
  (5 s) rather than in number, and the process's open-file limit bounds them in the end.
- **Listen backlog: 1,024** (``backlog``, default 100; asyncio/run.py ``start_server``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import hypercorn.config

from tekton_dag.functions import deferred
from tekton_dag.syntax import ascii_digits

SERVER_ENV = "TEKTON_DAG_HTTP_SERVER"  # granian (functions.granian_server) or hypercorn (func-python's own)
SERVERS = ("granian", "hypercorn")  # the first is the default
HEADER_TIMEOUT_ENV = "TEKTON_DAG_HEADER_TIMEOUT_SECONDS"
BODY_TIMEOUT_ENV = "TEKTON_DAG_BODY_TIMEOUT_SECONDS"
MAX_IN_FLIGHT_ENV = "TEKTON_DAG_MAX_IN_FLIGHT"
HEADER_TIMEOUT_S = 5.0
BODY_TIMEOUT_S = 10.0
SILENCE_TIMEOUT_S = 60
MAX_HEADER_BYTES = 16 * 1024
MAX_IN_FLIGHT = 2048
BACKLOG = 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name}={raw!r}: must be a number of seconds or requests") from None
    if value <= 0:
        raise SystemExit(f"{name}={raw!r}: must be greater than 0")
    return value


def server() -> str:
    """The HTTP server that serves the function: ``$TEKTON_DAG_HTTP_SERVER``, default granian."""
    name = os.environ.get(SERVER_ENV, "") or SERVERS[0]
    if name not in SERVERS:
        raise SystemExit(f"{SERVER_ENV}={name!r}: must be one of {', '.join(SERVERS)}")
    return name


def configure(config: hypercorn.config.Config) -> hypercorn.config.Config:
    """Set hypercorn's share of the limits on ``config``."""
    config.keep_alive_timeout = _number(HEADER_TIMEOUT_ENV, HEADER_TIMEOUT_S)
    config.read_timeout = SILENCE_TIMEOUT_S
    config.h11_max_incomplete_size = MAX_HEADER_BYTES
    config.backlog = BACKLOG
    return config


class Bounded:
    """ASGI middleware: the request-body deadline (408) and the in-flight bound (503)."""

    def __init__(self, app: App, body_timeout: float | None = None, max_in_flight: int | None = None):
        self.app = app
        self.body_timeout = body_timeout or _number(BODY_TIMEOUT_ENV, BODY_TIMEOUT_S)
        self.max_in_flight = max_in_flight or int(_number(MAX_IN_FLIGHT_ENV, MAX_IN_FLIGHT))
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            await _answer(send, 503, f"more than {self.max_in_flight} requests in flight; retry")
            return
        self.in_flight += 1
        try:
            await self._bounded(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        state = {"body_done": False, "started": False, "timed_out": False}
        unread = declared_length(scope)  # body bytes still to come, if the head says how many

        async def bounded_receive() -> Message:
            nonlocal unread
            if state["body_done"] or state["timed_out"]:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):  # a timer, not a task per receive (wait_for's cost)
                    message = await receive()
            except TimeoutError:
                state["timed_out"] = True
                if not state["started"]:
                    await _answer(send, 408, f"request body not received within {self.body_timeout:g} s")
                    state["started"] = True
                return {"type": "http.disconnect"}  # the app stops as if the client had gone
            if message["type"] == "http.request" and message.get("more_body") and unread is not None:
                unread -= len(message.get("body", b""))
                if unread <= 0:  # the last byte the head announced: say so now (``declared_length``)
                    message = {**message, "more_body": False}
            if message["type"] != "http.request" or not message.get("more_body"):
                state["body_done"] = True
            return message

        async def tracking_send(message: Message) -> None:
            if state["timed_out"]:
                return  # the 408 was the answer
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        await self.app(scope, bounded_receive, tracking_send)


def declared_length(scope: Scope) -> int | None:
    """The body's length as the head declares it (``Content-Length`` without ``Transfer-Encoding``),
    or None: then the body ends where the server says (``more_body`` false).

    Both servers frame a body by its Content-Length (RFC 9112 section 6.3; hyper's length decoder,
    h11's ``ContentLengthReader``) and never hand over more, so once that many bytes are in, the
    body is complete; but granian marks every data chunk ``more_body`` and ends with an empty
    message of its own, and each ``receive()`` under granian is a hop to its Rust thread and back.
    Marking the last announced chunk as the end spares every body (webhooks, CloudEvents from the
    Broker) that last hop: about 0.1 ms of CPU and of round trip per request on the 2-core
    machine (docs/performance.md, "The body's last receive"). The server has read that body to its end
    either way, so the connection stays reusable."""
    length: int | None = None
    for name, value in scope.get("headers", ()):
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            return None
        if lowered == b"content-length":
            if not ascii_digits(value) or length is not None:
                return None  # repeated, or not a plain number: the framing is the server's to judge
            length = int(value)
    return length if length else None


async def _answer(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def install() -> None:
    """Bound every server func-python starts in this process, on granian unless hypercorn is chosen
    (``server()``, read once here: an unknown name stops the process before it serves); idempotent.
    Called before func-python is imported, it also leaves hypercorn's HTTP/2 and WebSocket stacks
    unloaded until a connection uses them (``tekton_dag.functions.deferred``)."""
    deferred.defer(deferred.HYPERCORN)
    import hypercorn.asyncio  # after defer(): it imports hypercorn's protocols

    serve = hypercorn.asyncio.serve
    if getattr(serve, "tekton_dag_bounded", False):
        return

    chosen = server()

    async def bounded_serve(app: Any, config: hypercorn.config.Config, **options: Any) -> Any:
        from tekton_dag.functions import intake  # here: after defer(), as it loads the CloudEvents SDK

        app = intake.wrap(app)  # a CloudEvent function: malformed events get a precise 400 (functions.intake)
        try:
            if chosen == "granian":
                from tekton_dag.functions import granian_server

                return await granian_server.serve(
                    Bounded(app), list(config.bind), header_timeout=_number(HEADER_TIMEOUT_ENV, HEADER_TIMEOUT_S),
                    max_header_bytes=MAX_HEADER_BYTES, backlog=BACKLOG,
                    shutdown_trigger=options.get("shutdown_trigger"))
            return await serve(Bounded(app), configure(config), **options)  # type: ignore[arg-type]
        finally:
            from tekton_dag.functions import lifecycle  # loaded by then: the handlers import it

            await lifecycle.closed()  # what the handlers' stop() started closing, before the loop ends

    bounded_serve.tekton_dag_bounded = True  # type: ignore[attr-defined]
    hypercorn.asyncio.serve = bounded_serve
