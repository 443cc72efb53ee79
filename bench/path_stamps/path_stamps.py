"""Stamps along one webhook's path, in every process of a benchmark run (bench/path_split.py).

``install()`` wraps a few functions of both systems and of the fake Kubernetes API; each call
appends a line "label time pid" to the file named by ``TEKTON_DAG_PATH_STAMPS`` (time:
``time.perf_counter``, CLOCK_MONOTONIC, which every process on the machine shares, as the load
generator's send times do). A module imported later is wrapped as it is imported (a finder in
``sys.meta_path``), one imported already is wrapped at once. ``sitecustomize.py`` beside this file
calls ``install()`` when an interpreter starts with this directory on ``PYTHONPATH``, so the
systems' processes, the earlier system's among them, are stamped without a change to their code.

A stamp costs its process 2-4 µs (a clock read and one ``os.write`` to an O_APPEND file, atomic
for lines this short): a path of 15 stamps is ~50 µs slower than unstamped. The stamps say where
the time goes, not how long the whole takes: that is ``compare_upstream.py``'s figure.

Only the standard library: the earlier system's interpreter loads this too.
"""

from __future__ import annotations

import functools
import importlib.abc
import inspect
import os
import sys
import time
from collections.abc import Callable
from typing import Any

_fd: int | None = None


def stamp(label: str) -> None:
    global _fd
    if _fd is None:
        _fd = os.open(os.environ["TEKTON_DAG_PATH_STAMPS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(_fd, b"%s %.7f %d\n" % (label.encode(), time.perf_counter(), os.getpid()))


def _posted(_self: Any, scope: dict[str, Any], *_: Any) -> bool:
    return scope.get("type") == "http" and scope.get("method") == "POST"


def _creates_run(_self: Any, method: str, path: str, *_: Any, **__: Any) -> bool:
    return method == "POST" and path.split("?")[0].endswith("/pipelineruns")


# (module, attribute path, label at the call, label at its return or "", when to stamp (None: always)).
# Ours: tekton_dag; the earlier system: flask and the official kubernetes client; the fake API.
WRAPPED: list[tuple[str, str, str, str, Callable[..., bool] | None]] = [
    ("func_python.http", "ASGIApplication.__call__", "func-python: HTTP request in", "", _posted),
    ("func_python.cloudevent", "ASGIApplication.__call__", "func-python: event in", "", _posted),
    ("tekton_dag.webhooks.intake", "receive", "intake: begins (HMAC, parse, checks)", "intake: ends", None),
    ("tekton_dag.events.sealing", "EventKeys.seal", "seal: begins", "seal: ends", None),
    ("tekton_dag.eventing.posting", "AiohttpPoster.post", "POST an event: begins", "POST an event: answered", None),
    ("tekton_dag.bus.broker", "LocalBroker.ingest", "Broker: ingress takes the event", "", None),
    ("tekton_dag.bus.journal", "Journal._commit", "journal: commit begins", "journal: commit ends", None),
    ("tekton_dag.functions.resolver", "Resolver.handle", "resolver: begins", "", None),
    ("tekton_dag.functions.run_creator", "RunCreatorFunction.handle", "run-creator: begins", "", None),
    ("tekton_dag.kube.stores", "KubernetesStore.create_run", "client: create PipelineRun called", "", None),
    ("flask.app", "Flask.wsgi_app", "Flask: request in", "",
     lambda _self, environ, *_: environ.get("REQUEST_METHOD") == "POST"),
    ("kubernetes.client.api.custom_objects_api", "CustomObjectsApi.create_namespaced_custom_object",
     "client: create PipelineRun called", "", None),
    ("tekton_dag.testing.kube_api", "_Handler._serve", "fake API: request head read", "",
     lambda self, method: _creates_run(None, method, self.path)),
    ("tekton_dag.testing.kube_api", "FakeKubeApi.handle", "fake API: handler begins", "", _creates_run),
    ("tekton_dag.testing.kube_api", "FakeKubeApi._put", "fake API: PipelineRun stored", "",
     lambda _self, key, _obj: key[1] == "pipelineruns"),
]


def _wrapped(function: Callable[..., Any], begins: str, ends: str, when: Callable[..., bool] | None) -> Any:
    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def waited(*args: Any, **kwargs: Any) -> Any:
            noted = when is None or when(*args, **kwargs)
            if noted:
                stamp(begins)
            try:
                return await function(*args, **kwargs)
            finally:
                if noted and ends:
                    stamp(ends)
        return waited

    @functools.wraps(function)
    def called(*args: Any, **kwargs: Any) -> Any:
        noted = when is None or when(*args, **kwargs)
        if noted:
            stamp(begins)
        try:
            return function(*args, **kwargs)
        finally:
            if noted and ends:
                stamp(ends)
    return called


def _receives(read_body: Callable[..., Any]) -> Any:
    """webhook-ingest's body read, stamping each ASGI ``receive`` (granian: each one a hop to its thread)."""
    @functools.wraps(read_body)
    async def read(scope: Any, receive: Any, *args: Any, **kwargs: Any) -> Any:
        async def received() -> Any:
            message = await receive()
            stamp("body: a chunk received")
            return message
        stamp("body: read begins")
        try:
            return await read_body(scope, received, *args, **kwargs)
        finally:
            stamp("body: read ends")
    return read


def _wrap(module: Any) -> None:
    for name, path, begins, ends, when in WRAPPED:
        if name == module.__name__:
            owner_path, _, attribute = path.rpartition(".")
            try:
                owner = functools.reduce(getattr, owner_path.split("."), module) if owner_path else module
                setattr(owner, attribute, _wrapped(getattr(owner, attribute), begins, ends, when))
            except AttributeError:  # another version of that code: its stage is missing, the run goes on
                print(f"path_stamps: no {name}.{path} to stamp", file=sys.stderr)
    if module.__name__ == "tekton_dag.webhooks.asgi":
        module.read_body = _receives(module.read_body)


class _Finder(importlib.abc.MetaPathFinder):
    """Wraps a module of ``WRAPPED`` once it has been executed, whichever finder found it."""

    names = {name for name, *_ in WRAPPED} | {"tekton_dag.webhooks.asgi"}

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.names:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                execute = spec.loader.exec_module

                def exec_module(module: Any, execute: Any = execute) -> None:
                    execute(module)
                    _wrap(module)

                spec.loader.exec_module = exec_module  # type: ignore[method-assign]
                return spec
        return None


def install() -> None:
    if "TEKTON_DAG_PATH_STAMPS" not in os.environ or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    for name in _Finder.names:
        if name in sys.modules:
            _wrap(sys.modules[name])
    sys.meta_path.insert(0, _Finder())
