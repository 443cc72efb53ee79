"""A load generator for bench/chain_throughput.py: open-loop signed webhooks at a steady rate.

    python bench/loadgen.py URL SECRET REPO RATE COUNT FIRST_PR [--watch] [--octokit]

Each webhook is a ``pull_request.opened`` of its own PR number: by default the short delivery
``tekton-dag send`` makes (``devchain.samples``, ~5.5 KB); with ``--octokit`` GitHub's whole
payload, octokit's example (``tekton_dag/testing/github_webhooks``), with the sample's
repository, number, head and base laid over it: ~24.2 KB as sent, the payload issue 18's
comparison names.

The load generator stands in for GitHub, which is not on this machine: whatever CPU it burns is
taken from the functions being measured on the same cores, so it should cost as little as
possible. It is a minimal HTTP/1.1 client rather than a general-purpose one: each webhook is
pre-encoded (request line, headers and body) and sent in one write from an event-loop timer (no
task per webhook) over a pool of keep-alive connections, grown while all are busy; answers are
read just before the next write rather than as they arrive (one wake-up per webhook, not two).
It reports its own CPU per webhook on stderr (about 0.2-0.35 ms here, against 2.1-2.7 ms for
the httpx client it replaced).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import select
import socket
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from tekton_dag.devchain import samples
from tekton_dag.testing.github import fixture

Done = Callable[[int], None]  # called once with the answer's status (0: no answer)
# The benches' --payload names, and the flags of this script that send each.
PAYLOAD_FLAGS = {"octokit": ["--octokit"], "sample": []}


class _Connection:
    """One keep-alive HTTP/1.1 connection (a non-blocking socket): a whole request in one
    write, then the answer's status line and framing (Content-Length, chunked, or until close)
    parsed from what ``poll()`` finds."""

    def __init__(self, pool: _Pool, sock: socket.socket) -> None:
        self.pool, self.sock = pool, sock
        self.done: Done | None = None  # of the request in flight
        self.started = 0.0  # loop time the request in flight was written
        self.idle_since = 0.0
        self.watched = False  # read when readable (the last answers), not only when polled
        self._unsent = b""
        self._writing = False  # waiting for room in the socket buffer
        self._buffer = b""
        self._status = 0  # of the answer being read, once its head is in
        self._framing: tuple[str, int] = ("", 0)  # ("length", end) | ("chunked", offset) | ("close", 0)
        self._keep_alive = True
        self._peer_closed = False  # the server has closed its side: finish the answer, then close

    def send(self, request: bytes, done: Done) -> None:
        self.done, self.started, self._buffer, self._status, self._framing = (
            done,
            self.pool.loop.time(),
            b"",
            0,
            ("", 0),
        )
        self._keep_alive = True
        self._unsent = request
        self._write()
        if self.pool.draining:
            self.watch()

    def _write(self) -> None:
        try:
            sent = self.sock.send(self._unsent)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._finish(0)
            return
        self._unsent = self._unsent[sent:]
        if self._unsent and not self._writing:  # the socket buffer is full: the rest when it drains
            self._writing = True
            self.pool.loop.add_writer(self.sock, self._write)
        elif not self._unsent and self._writing:
            self._writing = False
            self.pool.loop.remove_writer(self.sock)

    def watch(self) -> None:
        if not self.watched and self.done is not None:
            self.watched = True
            self.pool.loop.add_reader(self.sock, self.poll)

    def poll(self, peer_closed: bool = False) -> None:
        """Read what has arrived; finish the request once its whole answer is in."""
        self._peer_closed = self._peer_closed or peer_closed
        while self.done is not None:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # closed: the answer so far if it ends at close, else none
                self._keep_alive = False
                self._finish(self._status if self._framing[0] == "close" else 0)
                return
            self._buffer += data
            try:
                complete = self._parse()
            except (ValueError, IndexError):
                complete, self._status, self._keep_alive = True, 0, False  # not HTTP/1.x: no answer
            if complete:
                self._finish(self._status)

    def _parse(self) -> bool:
        """True once the whole answer is in."""
        buffer = self._buffer
        while not self._status:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            lines = buffer[:end].decode("latin-1").split("\r\n")
            version, code = lines[0].split(" ", 2)[:2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip().lower()
            buffer = self._buffer = buffer[end + 4:]
            status = int(code)
            if 100 <= status < 200:
                continue  # an interim answer: the final one follows
            self._status = status
            connection = headers.get("connection", "")
            self._keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
            if status in (204, 304):
                self._framing = ("length", 0)
            elif "chunked" in headers.get("transfer-encoding", ""):
                self._framing = ("chunked", 0)
            elif "content-length" in headers:
                self._framing = ("length", int(headers["content-length"]))
            else:
                self._framing, self._keep_alive = ("close", 0), False
        kind, position = self._framing
        if kind == "length":
            return len(buffer) >= position
        if kind == "close":
            return False  # the end of the connection ends it
        while True:  # chunked: skip chunks until the last one and the trailers' end
            eol = buffer.find(b"\r\n", position)
            if eol < 0:
                return False
            size = int(buffer[position:eol].split(b";")[0], 16)
            if size == 0:
                return buffer.find(b"\r\n\r\n", eol) >= 0  # the (empty) trailers end with an empty line
            if len(buffer) < eol + 2 + size + 2:
                return False
            position = eol + 2 + size + 2
            self._framing = ("chunked", position)

    def _finish(self, status: int) -> None:
        done, self.done = self.done, None
        if self.watched:
            self.watched = False
            self.pool.loop.remove_reader(self.sock)
        if self._keep_alive and status and not self._unsent and not self._peer_closed:
            self.pool.release(self)
        else:
            self.close()
            self.pool.forget(self)
        if done is not None:
            done(status)

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            if self._writing:
                self.pool.loop.remove_writer(self.sock)
            if self.watched:
                self.pool.loop.remove_reader(self.sock)
            self._writing = self.watched = False
            self.pool.unregister(self)
            self.sock.close()


class _Pool:
    """Keep-alive connections to one host:port, grown while all are busy (up to ``limit``; then
    requests wait for a free one). Idle ones are reused newest first and dropped after
    ``keep_idle`` seconds, before the server's own keep-alive timeout (hypercorn's: 5 s).

    Answers are not read as they arrive but just before the next request goes out: ``reap()``
    asks the pool's own epoll (which the event loop does not wait on) which connections have
    something to read, so a finished one is reused. That is one wake-up per webhook instead of
    two; each costs tens of microseconds of CPU on these VMs. Once the last request is out,
    ``drain()`` reads the answers as they arrive. An idle connection with something to read was
    closed by the server (or is out of step): it is dropped.
    """

    def __init__(self, host: str, port: int, limit: int = 200, timeout: float = 30, keep_idle: float = 4) -> None:
        self.loop = asyncio.get_running_loop()
        self.host, self.port, self.limit, self.timeout, self.keep_idle = host, port, limit, timeout, keep_idle
        self.idle: list[_Connection] = []
        self.busy: set[_Connection] = set()
        self.opening = 0
        self.draining = False
        self.waiting: collections.deque[tuple[bytes, Done]] = collections.deque()
        self.readable = select.epoll()
        self.by_fd: dict[int, _Connection] = {}
        self._sweeper = self.loop.call_later(1, self._sweep)

    def send(self, request: bytes, done: Done) -> None:
        """Write ``request`` now on an idle connection, else as soon as one is free or opened;
        ``done`` gets the answer's status (0: none: refused, dropped, or ``timeout``). Call
        ``reap()`` first, so that connections whose answers are in count as idle."""
        now = self.loop.time()
        while self.idle:
            connection = self.idle.pop()
            if now - connection.idle_since < self.keep_idle:
                self.busy.add(connection)
                connection.send(request, done)
                return
            connection.close()
        self.waiting.append((request, done))
        self._grow()

    def reap(self) -> None:
        """Read the answers that are in (one epoll_wait that does not wait, one recv each)."""
        for fd, events in self.readable.poll(0):
            connection = self.by_fd.get(fd)
            if connection is None:
                continue
            if connection.done is not None:  # the answer, and maybe the server's close after it
                connection.poll(peer_closed=bool(events & (select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR)))
            else:  # idle, yet readable: closed by the server, or out of step
                if connection in self.idle:
                    self.idle.remove(connection)
                connection.close()

    def drain(self) -> None:
        """From now on, read answers as they arrive."""
        self.draining = True
        self.reap()
        for connection in list(self.busy):
            connection.watch()

    def unregister(self, connection: _Connection) -> None:
        fd = connection.sock.fileno()
        if self.by_fd.pop(fd, None) is not None:
            self.readable.unregister(fd)

    def _grow(self) -> None:
        """A new connection for each waiting request, within the limit."""
        while len(self.waiting) > self.opening and len(self.busy) + self.opening < self.limit:
            self.opening += 1
            self.loop.create_task(self._open())

    async def _open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await self.loop.sock_connect(sock, (self.host, self.port))
        except OSError:
            sock.close()
            self.opening -= 1
            if self.waiting:
                self.waiting.popleft()[1](0)  # refused: that delivery failed
            return
        self.opening -= 1
        connection = _Connection(self, sock)
        self.by_fd[sock.fileno()] = connection
        self.readable.register(sock.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        if self.waiting:
            self.busy.add(connection)
            connection.send(*self.waiting.popleft())
        else:  # a released connection took the request meanwhile
            connection.idle_since = self.loop.time()
            self.idle.append(connection)

    def release(self, connection: _Connection) -> None:
        self.busy.discard(connection)
        if self.waiting:
            self.busy.add(connection)
            connection.send(*self.waiting.popleft())
        else:
            connection.idle_since = self.loop.time()
            self.idle.append(connection)

    def forget(self, connection: _Connection) -> None:
        self.busy.discard(connection)
        self._grow()

    def _sweep(self) -> None:
        """Once a second: read what arrived, and give up on answers older than ``timeout``."""
        self.reap()
        now = self.loop.time()
        for connection in [c for c in self.busy if c.done is not None and now - c.started > self.timeout]:
            connection._keep_alive = False
            connection._finish(0)
        self._sweeper = self.loop.call_later(1, self._sweep)

    def close(self) -> None:
        self._sweeper.cancel()
        for connection in [*self.idle, *self.busy]:
            connection.close()
        self.readable.close()


def _request(url: str, delivery: samples.Delivery) -> bytes:
    """The whole POST as GitHub sends it (its headers, plus Host, Accept and Content-Length)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Host": parts.netloc, "Accept": "*/*", **delivery.headers, "Content-Length": str(len(delivery.body))}
    head = f"POST {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + delivery.body


@functools.cache
def _octokit_example() -> dict[str, Any]:
    """octokit's ``pull_request.opened``, without ``installation``: a repository webhook's delivery,
    as the sample is unless it names an installation (``Sample.installation``)."""
    _, example = fixture("pull_request.opened")
    example.pop("installation", None)
    return example


def octokit_shaped(sample: samples.Sample, secret: str) -> samples.Delivery:
    """``sample`` as GitHub's whole ``pull_request.opened`` payload: octokit's example, with every
    value the sample sets (repository, number, head, base, sender, times) laid over it, so the
    systems route it as the sample; the rest (links, the repository's 90-odd fields three times)
    is the example's, its links still naming octokit's repository."""
    body = json.dumps(_laid_over(_octokit_example(), samples.payload(sample))).encode()
    return samples.signed("pull_request", body, secret, repo=sample.repo, app=bool(sample.installation))


def _laid_over(base: Any, top: Any) -> Any:
    """``top`` with what only ``base`` has, mapping by mapping (JSON objects; anything else: ``top``)."""
    if isinstance(base, dict) and isinstance(top, dict):
        return {**base, **{key: _laid_over(base.get(key), value) for key, value in top.items()}}
    return top


async def generate(url: str, secret: str, repo: str, rate: float, count: int, first_pr: int,
                   watch: bool = False, octokit: bool = False) -> None:
    """The load generator (its own process, like GitHub): open-loop POSTs at ``rate``, then one
    JSON line per webhook on stdout: delivery id, PR number, send time (CLOCK_MONOTONIC, shared by all
    processes on Linux; taken when the POST is due, just before its write on a pooled
    connection), the answer's status (0: no answer) and when the answer was read. With ``watch``
    answers are read as they arrive (one more wake-up per webhook), so ``acked`` is the ack time;
    without, they are read before the next write and ``acked`` is late by up to 1/rate."""
    build = octokit_shaped if octokit else samples.build
    deliveries = [build(samples.Sample("pull_request.opened", repo, number=first_pr + i), secret) for i in range(count)]
    requests = [(d.delivery_id, _request(url, d)) for d in deliveries]
    numbers = {d.delivery_id: first_pr + i for i, d in enumerate(deliveries)}
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    pool = _Pool(parts.hostname or "127.0.0.1", parts.port or 80)
    pool.draining = watch
    results: list[tuple[str, float, int, float]] = []
    finished = loop.create_future()

    def post(delivery_id: str, request: bytes) -> None:
        pool.reap()
        sent = time.perf_counter()

        def done(status: int) -> None:
            results.append((delivery_id, sent, status, time.perf_counter()))
            if len(results) == count and not finished.done():
                finished.set_result(None)

        pool.send(request, done)

    cpu = time.process_time()
    start = loop.time()  # CLOCK_MONOTONIC, as perf_counter: timers, no task per webhook
    for i, (delivery_id, request) in enumerate(requests):
        loop.call_at(start + i / rate, post, delivery_id, request)
    loop.call_at(start + (count - 1) / rate, pool.drain)  # after the last post (same time, later timer)
    if count:
        await finished
    cpu = time.process_time() - cpu
    pool.close()
    print(f"load generator: {cpu / max(count, 1) * 1000:.3f} ms CPU per webhook ({count} webhooks)", file=sys.stderr)
    for delivery_id, sent, status, acked in results:
        print(json.dumps({"id": delivery_id, "pr": numbers[delivery_id], "sent": sent, "status": status,
                          "acked": acked}))


if __name__ == "__main__":
    url, secret, repo, rate, count, first = sys.argv[1:7]
    asyncio.run(generate(url, secret, repo, float(rate), int(count), int(first), watch="--watch" in sys.argv[7:],
                         octokit="--octokit" in sys.argv[7:]))
