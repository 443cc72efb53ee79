"""A request body ends where its Content-Length says (tekton_dag.functions.limits.declared_length):
the functions read no message after the last announced byte, so under granian no body costs an
extra hop to its Rust thread for the empty message that only says "no more"; chunked bodies and
kept-alive connections work as before."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import pytest

from tekton_dag.devchain import hosting
from tekton_dag.functions import granian_server
from tekton_dag.functions.limits import Bounded, declared_length

BODY = bytes(range(256)) * 100  # 25,600 bytes: more than granian's 16 KiB read buffer holds


def recording_app(seen: list[list[tuple[int, bool]]]) -> Any:
    """Reads each body to its end as func-python does, noting (bytes, more_body) per message."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append((len(message.get("body", b"")), bool(message.get("more_body"))))
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(messages)
        answer = str(len(body)).encode() + b" " + (b"same" if body == BODY else b"different")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})

    return app


def answer_of(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith((b"same", b"different")):
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection: {data!r}"
        data += chunk
    return data


def chunked(body: bytes, size: int = 10_000) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


async def test_under_granian_a_body_ends_with_its_last_announced_byte_and_the_connection_stays_open() -> None:
    seen: list[list[tuple[int, bool]]] = []
    sock = hosting.listen()
    shutdown = asyncio.Event()
    serving = asyncio.create_task(granian_server.serve(
        Bounded(recording_app(seen)), [f"fd://{sock.fileno()}"], header_timeout=5, max_header_bytes=16384,
        backlog=128, shutdown_trigger=shutdown.wait))
    host, port = sock.getsockname()[:2]

    def exchange() -> list[bytes]:
        with socket.create_connection((host, port), timeout=10) as client:
            answers = []
            for _ in range(3):  # one connection: each answer must come on it
                client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
                answers.append(answer_of(client))
            client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(BODY))
            answers.append(answer_of(client))
            return answers

    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                socket.create_connection((host, port), timeout=1).close()
                break
            await asyncio.sleep(0.05)
        answers = await asyncio.to_thread(exchange)
    finally:
        shutdown.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(serving, 10)
        serving.cancel()
        sock.detach()
    assert all(a.startswith(b"HTTP/1.1 200") and a.endswith(b"25600 same") for a in answers), answers
    for messages in seen[:3]:
        assert sum(size for size, _ in messages) == len(BODY)
        # Without Bounded's end mark granian adds (0, False) after the data: one more receive.
        assert messages[-1][0] > 0 and not messages[-1][1], messages
        assert all(more for _, more in messages[:-1]), messages
    assert sum(size for size, _ in seen[3]) == len(BODY) and not seen[3][-1][1]  # chunked: the server's end


class Scripted:
    """A server's ``receive`` that hands out ``messages`` and counts the calls."""

    def __init__(self, messages: list[dict[str, Any]]):
        self.messages, self.calls = messages, 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return self.messages.pop(0)


def body(data: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": data, "more_body": more}


async def read_through(headers: list[tuple[bytes, bytes]], messages: list[dict[str, Any]]) -> tuple[bytes, int, int]:
    """Bounded in front of an app reading its body to the end: (body, messages read, server receives)."""
    got: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            got.append(await receive())
            if not got[-1].get("more_body"):
                return

    server = Scripted(messages)
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}

    async def send(message: Any) -> None:
        pass

    await Bounded(app)(scope, server, send)
    return b"".join(m.get("body", b"") for m in got), len(got), server.calls


async def test_bounded_ends_the_body_at_its_content_length_and_reads_nothing_after() -> None:
    messages = [body(b"a" * 10, True), body(b"b" * 5, True), body(b"", False)]
    assert await read_through([(b"Content-Length", b"15")], messages) == (b"a" * 10 + b"b" * 5, 2, 2)


@pytest.mark.parametrize("headers", [
    [],  # no length: the server's own end
    [(b"transfer-encoding", b"chunked"), (b"content-length", b"15")],  # chunked wins (RFC 9112 6.3)
    [(b"content-length", b"15"), (b"content-length", b"15")],  # repeated: the server's to judge
    [(b"content-length", b"+15")],
])
async def test_without_one_plain_content_length_the_body_ends_where_the_server_says(
        headers: list[tuple[bytes, bytes]]) -> None:
    messages = [body(b"a" * 10, True), body(b"b" * 5, True), body(b"", False)]
    assert await read_through(headers, messages) == (b"a" * 10 + b"b" * 5, 3, 3)


def test_declared_length_reads_one_plain_content_length_only() -> None:
    assert declared_length({"headers": [(b"host", b"x"), (b"content-length", b"25600")]}) == 25600
    assert declared_length({"headers": [(b"Content-Length", b"0")]}) is None  # nothing to end early
    assert declared_length({"headers": [(b"content-length", b"1 5")]}) is None
    assert declared_length({}) is None
