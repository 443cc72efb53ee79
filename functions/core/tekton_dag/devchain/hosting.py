"""Serve an ASGI application with hypercorn on a socket we bound ourselves.

Binding first (port 0 allowed) and handing hypercorn the file descriptor means the caller knows
the real port before the server starts, with no race for a "free" port.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import hypercorn.asyncio
import hypercorn.config


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
    """Serve ``app`` on ``sock`` until ``shutdown`` is set (lifespan events included)."""
    config = hypercorn.config.Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.loglevel = "WARNING"  # errors still reach the log; "Running on" does not
    config.graceful_timeout = graceful_timeout
    config.keep_alive_timeout = 75  # longer than clients keep idle pooled connections
    await hypercorn.asyncio.serve(app, config, shutdown_trigger=shutdown.wait)
