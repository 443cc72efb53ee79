"""Serving the current configuration while it changes on disk.

A ``ConfigStore`` holds the last good ``Config`` with its ``ResolverIndex`` as one snapshot,
replaced in a single assignment, so a reader never sees a config with another config's index.

Changes are found by a fingerprint of the tree (path, inode, size and mtime of every visible
file, plus the target of a ``..data`` symlink). A Kubernetes ConfigMap volume updates by
writing a new ``..<timestamp>`` directory and swapping the ``..data`` symlink, so every file
changes at once; a git-sync or an editor changes files one by one, so a load is accepted only
if the fingerprint is the same before and after it (else it is retried), never a half-written tree.

An invalid new configuration is rejected: the last good one keeps serving, ``errors`` tells
why, and the same broken tree is not loaded again until it changes.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tekton_dag.config.errors import ConfigError
from tekton_dag.config.fingerprints import Fingerprint, fingerprint
from tekton_dag.config.index import ResolverIndex
from tekton_dag.config.loading import LoadResult, TeamCache, load_config
from tekton_dag.config.models import Config

log = logging.getLogger(__name__)

ATTEMPTS = 3  # loads retried while the tree keeps changing underneath


class Refresh(str, enum.Enum):
    UNCHANGED = "unchanged"
    LOADED = "loaded"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Snapshot:
    config: Config
    index: ResolverIndex
    loaded_at: float  # time.time() of the load


class ConfigStore:
    """The configuration under ``root``, reloaded by ``refresh()`` or ``watch()``."""

    def __init__(self, root: Path | str, load: Callable[[Path], LoadResult] | None = None,
                 cache: TeamCache | None = None) -> None:
        """``load`` reads the tree (by default ``load_config`` with a ``TeamCache`` of its own);
        ``cache``: the TeamCache ``load`` fills, undone when a load is dropped."""
        self.root = Path(root)
        if load is None:
            cache = TeamCache() if cache is None else cache  # unchanged teams are reused across reloads
            load = partial(_load_into, cache)
        self._load = load
        self._cache = cache
        self._snapshot: Snapshot | None = None
        self._fingerprint: Fingerprint | None = None
        self._errors: tuple[ConfigError, ...] = ()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Snapshot], None]] = []

    @property
    def snapshot(self) -> Snapshot | None:
        """The last good config and its index (``None`` until one loaded)."""
        return self._snapshot

    @property
    def config(self) -> Config | None:
        snapshot = self._snapshot
        return None if snapshot is None else snapshot.config

    @property
    def index(self) -> ResolverIndex | None:
        snapshot = self._snapshot
        return None if snapshot is None else snapshot.index

    @property
    def errors(self) -> tuple[ConfigError, ...]:
        """Why the files on disk are not being served (empty when the served config is current)."""
        return self._errors

    def on_change(self, listener: Callable[[Snapshot], None]) -> None:
        """Call ``listener(snapshot)`` after each new config is swapped in.

        It runs in the thread that refreshed (a worker thread under ``watch``): hand work to an
        event loop with ``loop.call_soon_threadsafe``.
        """
        self._listeners.append(listener)

    def refresh(self) -> Refresh:
        """Load the tree if it changed since the last attempt; blocking (file I/O)."""
        with self._lock:
            for _ in range(ATTEMPTS):
                before = fingerprint(self.root)
                if before == self._fingerprint:
                    return Refresh.UNCHANGED
                result = self._load(self.root)
                if fingerprint(self.root) == before:
                    return self._accept(result, before)
                if self._cache is not None:
                    self._cache.undo()  # what it kept may mix the tree before and after the change
            log.warning("configuration under %s kept changing during %d loads; retrying later", self.root, ATTEMPTS)
            return Refresh.UNCHANGED

    def _accept(self, result: LoadResult, seen: Fingerprint) -> Refresh:
        self._fingerprint = seen
        self._errors = result.errors
        if result.config is None:
            kept = "keeping the previous configuration" if self._snapshot else "no configuration loaded"
            log.error("configuration under %s is invalid (%d problem(s)); %s:\n%s", self.root,
                      len(result.errors), kept, "\n".join(f"  {e}" for e in result.errors))
            return Refresh.REJECTED
        snapshot = Snapshot(result.config, ResolverIndex.from_config(result.config), time.time())
        self._snapshot = snapshot
        log.info("configuration under %s loaded: %d team(s)", self.root, len(result.config.teams))
        for listener in self._listeners:
            listener(snapshot)
        return Refresh.LOADED

    async def watch(self, interval: float = 5.0, report: Callable[[Refresh], None] | None = None) -> None:
        """Refresh every ``interval`` seconds until cancelled; loads run in a worker thread, and
        ``report`` (on the loop) hears how each refresh went."""
        while True:
            try:
                result = await asyncio.to_thread(self.refresh)
                if report is not None:
                    report(result)
            except Exception:  # a watcher must outlive one bad refresh (e.g. a vanished mount)
                log.exception("reloading the configuration under %s failed", self.root)
            await asyncio.sleep(interval)


def _load_into(cache: TeamCache, root: Path) -> LoadResult:
    return load_config(root, cache)
