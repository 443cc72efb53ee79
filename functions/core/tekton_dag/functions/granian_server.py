"""func-python's ASGI application served by granian's embedded server instead of hypercorn.

The default (``TEKTON_DAG_HTTP_SERVER=hypercorn`` opts out): ``tekton_dag.functions.limits.install``
already stands between func-python and ``hypercorn.asyncio.serve``, and serves here. func-python still binds the
sockets (``func_python.sock.bind``: ``fd://N``, bound, not listening), builds the application and
runs its lifecycle (start/stop on the ASGI lifespan, alive/ready on /health/*); only the server
that reads requests and writes answers changes. granian (2.8, hyper 1.x underneath, I/O on a
Rust thread; embedded server: granian/server/embed.py ``Server``) takes each socket as its own
``SocketHolder(fd, uds, backlog)`` (granian src/net.rs: it calls ``listen(backlog)`` itself, and
owns the descriptor from then on, as hypercorn does with ``fd://N``). granian's own warnings are logged
(logger ``_granian``), all but one: its embedded server announces itself as experimental on every
start (granian/server/embed.py ``serve``), which says nothing to an operator this docstring does not.

The limits, with where granian (2.8.9; source read at emmett-framework/granian 2.8.1 and
hyperium/hyper 1.11) implements them; ``Bounded`` (limits.py) keeps the body deadline and the
in-flight bound, as under hypercorn:

- **Request head: 5 s** (``HTTP1Settings.header_read_timeout``, ms; granian src/workers.rs
  ``conn_builder_h1!`` hands it to hyper's ``http1::Builder::header_read_timeout``). hyper arms
  the timer when it starts reading a request head (a new connection, and again after each
  answer) and clears it once the head is parsed (hyper src/proto/h1/conn.rs ``poll_read_head``),
  so a trickled head is cut off too. On expiry hyper closes the connection without an answer:
  ``Server::on_error`` (src/proto/h1/role.rs) makes no response for ``Kind::HeaderTimeout``,
  as hypercorn.
- **Request head size: 16 KiB** (``HTTP1Settings.max_buffer_size``, hyper's ``max_buf_size``,
  minimum 8 KiB): a head that does not fit the read buffer is ``Parse::TooLarge``, answered 431
  (role.rs ``on_error``) and the connection closed. Unlike h11's, hyper's bound holds for a
  complete head too. Bodies are streamed, not buffered whole, so 25 KB webhooks pass, in two
  ``receive``s: one per buffer-full, each a hop to granian's thread and back (0.12 ms here). One
  read would take a 48 KiB buffer (hyper checks the bound after each read, and the buffer's
  capacity grows 8, 24, 48 KiB), and 4,096 connections trickling heads would then hold 192 MiB
  against a function's 256 MiB, where 16 KiB holds 64 MiB: measured and not kept
  (docs/performance.md, twenty-sixth round).
- **Silence: no timer of its own** (hypercorn closes after 60 s of it): hyper has no read timeout
  once a head is in, but every state a client controls is bounded otherwise: the head (5 s), the
  body (``Bounded``, 10 s, 408) and the idle time between requests (the head timer again, 5 s, as
  hypercorn's ``keep_alive_timeout``). A client waiting for its answer waits for the handler,
  whose own calls have timeouts.
- **Connections: 4,096 per process** (granian's ``backpressure``: a semaphore permit per
  accepted connection, held until it closes; granian src/workers.rs ``acceptor_impl_loop!``).
  Beyond it granian stops accepting and new connections wait in the listen backlog; it is twice
  the in-flight bound so that ``Bounded``'s 503 stays what a burst meets first.
- **Listen backlog: 1,024** (``SocketHolder``'s ``listen(backlog)``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from granian import asgi, net
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server.embed import Server

MAX_CONNECTIONS = 4096
THREADS_END_S = 2.0  # how long serve() waits, once stopped, for granian's threads to end
EXPERIMENTAL = "Embedded server is experimental!"  # granian/server/embed.py, logged at warning on every start
# Partly typed in granian 2.8 (no signatures for these two; _granian.pyi gives SocketHolder no constructor):
SOCKET_HOLDER: Any = net.SocketHolder  # type: ignore[attr-defined]
LIFESPAN: Any = asgi.LifespanProtocol


class _OnBoundSocket(Server):
    """granian's embedded server on a socket func-python bound, instead of one it binds itself."""

    def __init__(self, app: Any, fd: int, **options: Any):
        with socket.socket(fileno=fd) as sock:  # its address, for granian's "Listening at" line
            host, port = sock.getsockname()[:2]
            sock.detach()  # the descriptor stays open: granian's from here on
        super().__init__(app, address=host, port=port, **options)
        self._holder: Any = SOCKET_HOLDER(fd, False, self.backlog)  # granian calls listen(backlog) on it

    def _init_shared_socket(self) -> None:  # granian/server/common.py binds its own here
        self._ssp = None
        self._shd: Any = self._holder


# Native threads that are not granian's and live as long as the process: uvloop's libuv thread
# pool (getaddrinfo, file operations), started on its first use (aiohttp's look-up of the API
# server's address, often while serving) and named by libuv (uv_thread_setname, libuv >= 1.45).
LOOP_POOL_THREADS = frozenset({"libuv-worker"})


def _native_threads() -> set[int]:
    """The process's threads as the kernel lists them (Linux); empty where there is no /proc."""
    try:
        return {int(tid) for tid in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def _thread_name(tid: int) -> str:
    try:
        with open(f"/proc/self/task/{tid}/comm", encoding="utf-8") as comm:
            return comm.read().strip()
    except OSError:
        return ""  # it has ended


async def _granian_threads_ended(before: set[int]) -> None:
    """Wait until the threads granian started have ended, so that the interpreter never finalizes
    under one. A stopped worker resolves the Python side's future from a Rust thread of its own
    (granian src/serve.rs, the ``fut`` variant of ``serve_fn!``: that thread joins the worker, then
    calls ``WorkerSignal.release`` under the GIL and drops its reference), so ``Server.serve``
    can return while that thread is still inside Python. If the process then exits, CPython ends a
    thread that asks for the GIL during finalization with ``pthread_exit``, which cannot unwind
    through Rust: the process aborted (exit 134, "panic in a function that cannot unwind") in
    about 1 stop in 10 here. Threads Python knows (``threading``) end by its own rules, and the
    loop's own thread pool (``LOOP_POOL_THREADS``) never does: waiting for it cost every stop
    that had looked an address up the whole ``THREADS_END_S`` and a false warning."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + THREADS_END_S
    while left := {tid for tid in _native_threads() - before - {t.native_id for t in threading.enumerate()}
                   if _thread_name(tid) not in LOOP_POOL_THREADS}:
        if loop.time() > deadline:
            logging.getLogger(__name__).warning("granian: %d thread(s) still running after %.0f s", len(left),
                                                THREADS_END_S)
            return
        await asyncio.sleep(0.005)


def _known_notice(record: logging.LogRecord) -> bool:
    return record.getMessage() != EXPERIMENTAL


def descriptors(binds: list[str]) -> list[int]:
    """The socket descriptors of func-python's binds (``fd://N``, func_python/sock.py ``bind``)."""
    found = []
    for bind in binds:
        if not bind.startswith("fd://"):
            raise SystemExit(f"granian: bind {bind!r}: expected func-python's fd://N (a socket it bound)")
        found.append(int(bind.removeprefix("fd://")))
    return found


async def serve(app: Any, binds: list[str], *, header_timeout: float, max_header_bytes: int, backlog: int,
                shutdown_trigger: Callable[[], Awaitable[Any]] | None = None) -> None:
    """Serve ``app`` on every bound socket until ``shutdown_trigger`` returns, or without one until
    SIGTERM/SIGINT (as ``hypercorn.asyncio.serve``); the lifespan runs once around all sockets."""
    settings = HTTP1Settings(header_read_timeout=int(header_timeout * 1000), keep_alive=True,
                             max_buffer_size=max(max_header_bytes, 8192))
    servers: list[Any] = [_OnBoundSocket(app, fd, interface=Interfaces.ASGINL, http=HTTPModes.http1,
                                         websockets=False, backlog=backlog, backpressure=MAX_CONNECTIONS,
                                         http1_settings=settings, log_level=LogLevels.warning)
                          for fd in descriptors(binds)]
    logging.getLogger("_granian").addFilter(_known_notice)  # after the servers set granian's logging up
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for server in servers:
            server.stop()  # also before ``serve()``: its loop then ends at once

    # Before the start-up, not after it: func-python's own handlers (installed first) only set an
    # event nobody waits for, so a SIGTERM while the function starts (a first load of a large
    # configuration takes seconds) was lost and the process served on until SIGKILL.
    trigger = None
    if shutdown_trigger is None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
    else:
        trigger = asyncio.ensure_future(shutdown_trigger())
        trigger.add_done_callback(stop)
    lifespan = LIFESPAN(app)  # once, not per socket: func-python's start/stop
    await lifespan.startup()
    # granian takes an exception raised in the lifespan for an app without lifespan support
    # ("ASGI Lifespan errored, continuing without Lifespan support": errored, not interrupt) and
    # would serve a function that never started; ours supports it, so that is a failed start.
    if lifespan.interrupt or lifespan.errored:
        if trigger is not None:
            trigger.cancel()
        raise SystemExit(f"function start-up failed: {lifespan.exc}")
    await asyncio.sleep(0)  # a signal that came during the start-up is handled here
    if stopping:  # asked to stop while starting: never serve, stop the function
        if trigger is not None:
            trigger.cancel()
        await lifespan.shutdown()
        return
    before = _native_threads()
    try:
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        if trigger is not None:
            trigger.cancel()
        await _granian_threads_ended(before)
        await lifespan.shutdown()
