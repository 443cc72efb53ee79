"""Fixtures for the end-to-end tests (helpers live in tests/support/e2e.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from tekton_dag.devchain import hosting


@dataclass
class Receiver:
    """A plain HTTP endpoint that records requests (headers lower-cased, raw body)."""

    status: int = 202
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http":
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    sock = hosting.listen()
    shutdown = asyncio.Event()
    app = Receiver(url=hosting.url_of(sock, "/webhook/github"))
    task = asyncio.create_task(hosting.serve(app, sock, shutdown, graceful_timeout=1))
    await asyncio.sleep(0.1)
    yield app
    shutdown.set()
    await task
