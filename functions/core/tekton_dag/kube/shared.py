"""One ``kubernetes_asyncio`` ApiClient per process, shared by every Kubernetes adapter.

``PROCESS`` is the process's client, configured the standard way (``clients.load_api_client``:
in-cluster, else ``KUBECONFIG``) on first use; run-creator's store and Events, status-reporter's
store, webhook-ingest's listing and the dead-letter sink all use it, so one process keeps one
connection pool to the API server (the all-in-one too). ``Handler.stop`` closes it at shutdown.
``SharedClient.for_kubeconfig`` makes another for one kubeconfig file (the CLI, tests).

This module imports no client (cheap: a function's module imports it before it is ready); the
client is imported by the first ``get``.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

CLIENTS = "tekton_dag.kube.clients"

class SharedClient:
    """One ``ApiClient`` per event loop (in a process: one), made by ``make`` on first use.

    Callers on the same loop share it and its connection pool. ``aclose`` closes the one of the
    running loop; a client nobody closed is closed when its loop ends (``asyncio.run`` and
    ``asyncio.Runner`` finalize a loop's async generators before closing it: each client's
    ``_lifetime`` generator waits there), since an aiohttp session can only be closed on its loop."""

    def __init__(self, make: Callable[[], Awaitable[Any]]):
        self._make = make
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Task[Any]] = {}
        self._lifetimes: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}

    @classmethod
    def for_kubeconfig(cls, path: str) -> SharedClient:
        """A client for the cluster of the kubeconfig file at ``path``, whatever the environment says."""
        async def make() -> Any:
            from tekton_dag.kube.clients import api_client_from_kubeconfig

            return await api_client_from_kubeconfig(path)

        return cls(make)

    async def get(self) -> Any:
        loop = asyncio.get_running_loop()
        opening = self._opening.get(loop)
        if opening is None:  # concurrent first callers wait for the same client
            opening = self._opening[loop] = loop.create_task(self._open(loop))
        if opening.done() and not opening.cancelled() and opening.exception() is None:
            return opening.result()  # the common case: no await, no shield
        try:
            return await asyncio.shield(opening)
        except Exception:
            if self._opening.get(loop) is opening:
                del self._opening[loop]  # not configured (yet): try again on the next call
            raise

    async def _open(self, loop: asyncio.AbstractEventLoop) -> Any:
        if CLIENTS not in sys.modules:  # the client's ~0.3 s of imports: never on the loop
            await asyncio.to_thread(importlib.import_module, CLIENTS)
        api_client = await self._make()
        lifetime = self._lifetime(loop, api_client)
        await anext(lifetime)  # the loop now knows the generator (and finalizes it at its end)
        self._lifetimes[loop] = lifetime
        return api_client

    async def _lifetime(self, loop: asyncio.AbstractEventLoop, api_client: Any) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            self._opening.pop(loop, None)
            self._lifetimes.pop(loop, None)
            await api_client.close()

    async def aclose(self) -> None:
        """Close the running loop's client (if any); the next ``get`` makes a new one."""
        lifetime = self._lifetimes.pop(asyncio.get_running_loop(), None)
        if lifetime is not None:
            await lifetime.aclose()


async def _standard() -> Any:
    from tekton_dag.kube.clients import load_api_client

    return await load_api_client()


PROCESS = SharedClient(_standard)  # the process's client, configured the standard way (clients.load_api_client)
