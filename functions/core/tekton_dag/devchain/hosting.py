"""Serve an ASGI application with hypercorn, or the local Broker's ingress with aiohttp's server,
on a socket we bound ourselves.

Binding first (port 0 allowed) and handing the server the socket means the caller knows the real
port before the server starts, with no race for a "free" port.

The local Broker stands in for Knative's broker ingress (a Go server), so its HTTP server is ours
to choose: aiohttp's took 0.11-0.12 ms of CPU per loopback POST of an event where hypercorn took
0.37 ms (both on uvloop, docs/performance.md), and every webhook crosses the ingress once.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import hypercorn.asyncio
import hypercorn.config

from tekton_dag.bus.broker import LocalBroker


def listen(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: the kernel picks one)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, path: str = "/") -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}{path}"


async def serve(app: Any, sock: socket.socket, shutdown: asyncio.Event, graceful_timeout: float = 5.0) -> None:
    """Serve ``app`` on ``sock`` until ``shutdown`` is set (lifespan events included). The
    server takes ``sock``'s descriptor and closes it, as ``serve_broker``'s aiohttp server does."""
    config = hypercorn.config.Config()
    # fd:// wraps the same descriptor (hypercorn config.py: ``socket.socket(fileno=...)``, no dup)
    # and hypercorn's server closes it at the end: ``sock`` lets go of it then.
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.loglevel = "WARNING"  # errors still reach the log; "Running on" does not
    config.graceful_timeout = graceful_timeout
    config.keep_alive_timeout = 75  # longer than clients keep idle pooled connections
    try:
        await hypercorn.asyncio.serve(app, config, shutdown_trigger=shutdown.wait)
    finally:
        sock.detach()


async def serve_broker(broker: LocalBroker, sock: socket.socket, shutdown: asyncio.Event,
                       graceful_timeout: float = 5.0) -> None:
    """Serve ``broker``'s ingress on ``sock`` with aiohttp's server until ``shutdown`` is set:
    start it first and close it last, as the ASGI lifespan does under hypercorn."""
    from aiohttp import web

    async def handle(request: web.BaseRequest) -> web.Response:
        body = await request.content.read()  # unbounded, as under hypercorn: its clients are the functions
        # raw_path: the request target as sent, query string included (Go's RequestURI)
        answer = await broker.answer(request.method, request.raw_path, request.headers, body)
        return web.Response(status=answer.status, body=answer.body, content_type="text/plain", headers=answer.headers)

    broker.start()
    runner = web.ServerRunner(web.Server(handle, access_log=None), handle_signals=False,
                              shutdown_timeout=graceful_timeout)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        await shutdown.wait()
    finally:
        await runner.cleanup()  # stop listening, let answers in progress finish
        await broker.close(broker.close_grace)
