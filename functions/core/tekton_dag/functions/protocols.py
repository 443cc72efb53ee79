"""hypercorn's HTTP/2 and WebSocket stacks, loaded when a connection first asks for them.

A function is served HTTP/1.1 (Knative's queue-proxy and the local Broker speak it), yet importing
``hypercorn.asyncio`` imports h2, hpack, hyperframe, wsproto and hypercorn's own h2 and WebSocket
protocol modules: about 30-40 ms of a function's ~400 ms of CPU to ready (docs/performance.md).
hypercorn offers no setting that leaves them out, so ``defer()`` does it from outside, before
hypercorn is imported. It relies on how hypercorn uses three names (hypercorn 0.17.3):

- ``H2Protocol`` (``protocol/h2.py``) is imported by ``protocol/__init__.py`` and only ever called,
  to make the protocol of an h2 / h2c connection (``ProtocolWrapper``);
- ``WSStream`` (``protocol/ws_stream.py``, which imports wsproto) is imported by ``protocol/h11.py``
  and ``protocol/h2.py`` and only ever called, on a WebSocket upgrade;
- ``h2.events`` is imported by ``typing.py`` for annotations only (``from __future__ import annotations``).

So each of the three is stood in for (``StandIn``) by a module whose names load the real
module on first use: a call of ``H2Protocol`` or ``WSStream``, any attribute of ``h2.events``
(``importlib.util.LazyLoader`` would not do: the import system reads ``__spec__`` of a module in
``sys.modules``, which loads it). An h2 connection or a WebSocket upgrade then loads them once
(~30 ms) and is served exactly as before.

That reliance is checked, not assumed: ``defer()`` compares a digest of each hypercorn file that
imports these names with the one read for hypercorn 0.17.3, and changes nothing for any other
content (the stacks are then imported as usual: a slower start, never a wrong one). The test of
this module fails when the installed hypercorn differs, so an upgrade gets read again.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any, Final

# module -> the names hypercorn imports from it and only ever calls (module docstring)
DEFERRED: Final[dict[str, tuple[str, ...]]] = {
    "hypercorn.protocol.h2": ("H2Protocol",),
    "hypercorn.protocol.ws_stream": ("WSStream",),
    "h2.events": (),  # imported by hypercorn.typing for its annotations only
}
# blake2b (16 bytes) of the files that import the names above, as read in hypercorn 0.17.3
VERIFIED: Final = {
    "protocol/__init__.py": "cc2533a918e4b65ce60b8062bb7d2e67",
    "protocol/h11.py": "01b233fedf2f4b29240bce61c2feb658",
    "protocol/h2.py": "3caade0cd89826e6db584ac57ab7958d",
    "typing.py": "b6e2b32a7e71d185f390ce2c3be705f4",
}
_deferred = False


def defer() -> bool:
    """Leave hypercorn's h2 and WebSocket modules unloaded until first used; True when done.

    Call before anything imports ``hypercorn.protocol``; does nothing once it has been imported,
    or when hypercorn's files are not the ones verified (module docstring)."""
    global _deferred
    if _deferred or any(name in sys.modules for name in ("hypercorn.protocol", "hypercorn.typing", *DEFERRED)):
        return _deferred  # done before, or too late
    if not verified():
        return False
    for module, names in DEFERRED.items():
        sys.modules[module] = StandIn(module, names)
    _deferred = True
    return True


def verified() -> bool:
    """Whether the installed hypercorn's files are the ones this module was checked against."""
    spec = importlib.util.find_spec("hypercorn")
    if spec is None or not spec.submodule_search_locations:
        return False
    root = Path(next(iter(spec.submodule_search_locations)))
    try:
        return all(hashlib.blake2b((root / path).read_bytes(), digest_size=16).hexdigest() == digest
                   for path, digest in VERIFIED.items())
    except OSError:
        return False


class StandIn(types.ModuleType):
    """Takes a module's place in ``sys.modules`` until it is first used: a call of one of ``calls``
    (names that are imported from it but only called), or reading any other public attribute,
    imports the real module, which then takes its place."""

    def __init__(self, module: str, calls: tuple[str, ...]) -> None:
        super().__init__(module, f"stands in for {module} until first used (tekton_dag.functions.protocols)")
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
