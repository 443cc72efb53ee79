"""Modules a served function imports but needs only later: stood in for until first used.

Two libraries import, when a function starts, modules that a function needs late or never:

- hypercorn (``HYPERCORN``) imports h2, hpack, hyperframe, wsproto and its own h2 and WebSocket
  protocol modules, yet a function is served HTTP/1.1 (Knative's queue-proxy and the local Broker
  speak it): about 30-40 ms of a function's ~400 ms of CPU to ready (docs/performance.md), and
  hypercorn has no setting that leaves them out. How hypercorn 0.17.3 uses them:
  ``H2Protocol`` (``protocol/h2.py``) is imported by ``protocol/__init__.py`` and only ever called,
  for an h2 / h2c connection (``ProtocolWrapper``); ``WSStream`` (``protocol/ws_stream.py``, which
  imports wsproto) is imported by ``protocol/h11.py`` and ``protocol/h2.py`` and only ever called,
  on a WebSocket upgrade; ``h2.events`` is imported by ``typing.py`` for annotations only
  (``from __future__ import annotations``). Nothing loads them until a connection asks.
- the CloudEvents SDK (``CLOUDEVENTS``, func-python's decoding and ours) imports dateutil's parser
  (~10 ms with ``dateutil.tz``) for ``isoparse``, which its ``formats/json.py``,
  ``bindings/common.py`` and ``bindings/http.py`` only ever call, to read an event's ``time``.
  Events need it, so it is loaded in the background after ready (``warm_up``).

``defer`` puts a ``StandIn`` in ``sys.modules`` for each such module: the names imported from it
are callables that import the real module on their first call and call the real one; reading any
other public attribute imports it too. (``importlib.util.LazyLoader`` would not do: ``from m
import name`` reads the name at once, and the import system reads ``__spec__`` of a module in
``sys.modules``, which loads it.) What is served is exactly what the real modules serve.

That reliance is checked, not assumed: ``defer`` compares a digest of each library file that
imports these names with the one read (hypercorn 0.17.3, cloudevents 2.2.0) and changes nothing
for any other content: the modules are then imported as usual, a slower start, never a wrong
one. tests/serving/test_deferred.py fails when the installed files differ, so an upgrade gets
read again. Called before the libraries are imported (``tekton-dag serve``: ``cli.serve`` and
``functions.limits.install``); too late, it does nothing.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final


@dataclass(frozen=True)
class Deferral:
    """Modules that ``package`` imports and needs late: ``modules`` maps each to the names imported
    from it that are only ever called; ``files`` are the package's files that import them, with
    their digests as read; ``warm``: load them in the background after ready (``warm_up``)."""

    package: str
    files: Mapping[str, str]
    modules: Mapping[str, tuple[str, ...]]
    warm: bool

    def importers(self) -> list[str]:
        """The modules of ``files``: imported already, it is too late to stand in for anything."""
        names = (path.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for path in self.files)
        return [f"{self.package}.{name}" for name in names]


# blake2b (16 bytes) of each file, as read (module docstring)
HYPERCORN: Final = Deferral("hypercorn", files={
    "protocol/__init__.py": "cc2533a918e4b65ce60b8062bb7d2e67",
    "protocol/h11.py": "01b233fedf2f4b29240bce61c2feb658",
    "protocol/h2.py": "3caade0cd89826e6db584ac57ab7958d",
    "typing.py": "b6e2b32a7e71d185f390ce2c3be705f4",
}, modules={
    "hypercorn.protocol.h2": ("H2Protocol",),
    "hypercorn.protocol.ws_stream": ("WSStream",),
    "h2.events": (),
}, warm=False)
CLOUDEVENTS: Final = Deferral("cloudevents", files={
    "core/formats/json.py": "3eb2df2c93baaa14aa0903d2941b5aad",
    "core/bindings/common.py": "5ca485210aeb8b9deb35f69c316cdc6d",
    "core/bindings/http.py": "30832e02df938fb7ff21f63c2d3809a8",
}, modules={"dateutil.parser": ("isoparse",)}, warm=True)

_deferred: list[Deferral] = []


def defer(deferral: Deferral) -> bool:
    """Stand in for ``deferral``'s modules until first used; True when they are (module docstring)."""
    if deferral in _deferred:
        return True
    if any(name in sys.modules for name in (*deferral.importers(), *deferral.modules)):
        return False  # too late: imported already
    if not verified(deferral):
        return False
    for module, calls in deferral.modules.items():
        sys.modules[module] = StandIn(module, calls)
    _deferred.append(deferral)
    return True


def warm_up() -> None:
    """Load the modules of the deferrals marked ``warm`` (in the background, after ready)."""
    for deferral in _deferred:
        for module in deferral.modules if deferral.warm else ():
            stand_in = sys.modules.get(module)
            if isinstance(stand_in, StandIn):
                stand_in.real()


def verified(deferral: Deferral) -> bool:
    """Whether the installed package's files are the ones ``deferral`` was checked against."""
    spec = importlib.util.find_spec(deferral.package)
    if spec is None or not spec.submodule_search_locations:
        return False
    root = Path(next(iter(spec.submodule_search_locations)))
    try:
        return all(hashlib.blake2b((root / path).read_bytes(), digest_size=16).hexdigest() == digest
                   for path, digest in deferral.files.items())
    except OSError:
        return False


class StandIn(types.ModuleType):
    """Takes a module's place in ``sys.modules`` until it is first used: a call of one of ``calls``
    (names that are imported from it but only called), or reading any other public attribute,
    imports the real module, which then takes its place."""

    def __init__(self, module: str, calls: tuple[str, ...]) -> None:
        super().__init__(module, f"stands in for {module} until first used (tekton_dag.functions.deferred)")
        self._module = module
        for name in calls:
            setattr(self, name, self._caller(name))

    def _caller(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            return getattr(self.real(), name)(*args, **kwargs)

        call.__qualname__ = call.__name__ = name
        return call

    def __getattr__(self, name: str) -> Any:  # only for names not set above
        if name.startswith("__"):  # tools probing modules (inspect, pickle...) do not load it
            raise AttributeError(name)
        return getattr(self.real(), name)

    def real(self) -> types.ModuleType:
        """The real module, imported on first use."""
        if sys.modules.get(self._module) is self:
            del sys.modules[self._module]
        return importlib.import_module(self._module)
