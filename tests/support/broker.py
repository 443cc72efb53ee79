"""Broker test support: the local Broker served on loopback by aiohttp's server (as ``tekton-dag dev``
serves it; other ASGI apps by hypercorn), and the manifests it reads.

Its subscribers are ``tekton_dag.testing.recorder.EventRecorder`` instances serving on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.bus.broker import LocalBroker
from tekton_dag.bus.triggers import load_topology
from tekton_dag.devchain import hosting


@contextlib.asynccontextmanager
async def served(app: Any, port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` on loopback for the duration of the block; yields its base URL."""
    sock = hosting.listen(port=port)
    async with _serving(lambda shutdown: hosting.serve(app, sock, shutdown, graceful_timeout=1),
                        hosting.url_of(sock), probe="") as url:
        yield url


@contextlib.asynccontextmanager
async def served_broker(broker: LocalBroker) -> AsyncIterator[str]:
    """Serve ``broker``'s ingress on loopback as ``tekton-dag dev`` does (aiohttp's server)."""
    sock = hosting.listen()
    async with _serving(lambda shutdown: hosting.serve_broker(broker, sock, shutdown, graceful_timeout=1),
                        hosting.url_of(sock), probe="healthz") as url:
        yield url


@contextlib.asynccontextmanager
async def _serving(
    server: Callable[[asyncio.Event], Coroutine[Any, Any, None]], url: str, probe: str
) -> AsyncIterator[str]:
    """Run ``server(shutdown)`` until the block ends; yields ``url`` once ``url + probe`` answers."""
    shutdown = asyncio.Event()
    task = asyncio.create_task(server(shutdown))
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            try:
                await client.get(url + probe)
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.02)
    try:
        yield url
    finally:
        shutdown.set()
        await task


def trigger_yaml(name: str, subscriber: str, filter_yaml: str = "", delivery_yaml: str = "") -> str:
    """A Trigger document on broker tekton-dag for Service ``subscriber``."""
    doc = f"""\
        apiVersion: eventing.knative.dev/v1
        kind: Trigger
        metadata:
          name: {name}
        spec:
          broker: tekton-dag
          subscriber:
            ref: {{apiVersion: serving.knative.dev/v1, kind: Service, name: {subscriber}}}
        """
    doc = textwrap.dedent(doc)
    for block in (filter_yaml, delivery_yaml):
        if block:
            doc += textwrap.indent(textwrap.dedent(block), "  ")
    return doc


def broker_yaml(delivery_yaml: str = "retry: 2\nbackoffPolicy: linear\nbackoffDelay: PT0.01S\n") -> str:
    head = "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: tekton-dag\nspec:\n  delivery:\n"
    return head + textwrap.indent(delivery_yaml, "    ")


def write_manifests(directory: Path, *docs: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "eventing.yaml").write_text("---\n".join(docs), encoding="utf-8")
    return directory


@dataclass
class RunningBroker:
    broker: LocalBroker
    url: str
    dead_letter_file: Path

    async def post(self, event: CloudEvent, structured: bool = False) -> httpx.Response:
        message = to_structured_event(event) if structured else to_binary_event(event)
        async with httpx.AsyncClient() as client:
            return await client.post(self.url, headers=dict(message.headers), content=message.body)

    def dead_letters(self) -> list[dict]:
        import json

        if not self.dead_letter_file.exists():
            return []
        return [json.loads(line) for line in self.dead_letter_file.read_text().splitlines()]


@pytest.fixture
def start_broker(tmp_path: Path) -> Callable:
    """``async with start_broker(docs, services) as running``: a served LocalBroker."""

    @contextlib.asynccontextmanager
    async def start(docs: list[str], services: dict[str, str], **options: Any) -> AsyncIterator[RunningBroker]:
        topology = load_topology(write_manifests(tmp_path / "knative", *docs))
        broker = LocalBroker(topology, services, tmp_path / "dead-letters.jsonl", **options)
        async with served_broker(broker) as url:  # the Broker's address: its path on the ingress
            yield RunningBroker(broker, url.rstrip("/") + topology.ingress_path, broker.dead_letter_file)

    return start


def event(type_: str = "dev.example.thing.v1", **extensions: Any) -> CloudEvent:
    return CloudEvent({"type": type_, "source": "/tests", **extensions}, {"n": 1})


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds (the broker delivers asynchronously after its 202)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
