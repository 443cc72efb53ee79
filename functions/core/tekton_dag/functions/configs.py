"""The configuration a function works with: the current ``Config`` and its resolver index.

Functions read ``TEKTON_DAG_TEAMS_DIR`` (default ``./teams``) when they start and then follow
changes with ``tekton_dag.config.reloading.ConfigStore`` (a ConfigMap swap or a git-sync): a
background task re-checks the tree every ``TEKTON_DAG_CONFIG_RELOAD_S`` seconds (default 5). A
bad edit keeps the last good configuration serving, and ``problem()`` says why.

``tekton-dag serve`` loads the configuration before the server starts (``preload``): a process
with threads reads every team itself (config/parallel.py forks only a process with one thread),
and a function's server has threads by the time it calls ``start``. The function's first
``ConfigSource`` then takes that load; a change made since is found by its next refresh.

A teams folder that holds nothing at all (the chart's empty ConfigMap before any team is
installed) is a configuration with no team, not an error: the functions become ready, and
webhook-ingest answers every webhook that no team is configured (``NO_TEAM``). ``tekton-dag
validate`` still refuses an empty folder: only a running function accepts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from tekton_dag.config.index import ResolverIndex
from tekton_dag.config.loading import DEFAULT_TEAMS_DIR, TEAMS_DIR_ENV, LoadResult, TeamCache
from tekton_dag.config.models import Config
from tekton_dag.config.reloading import ConfigStore, Refresh
from tekton_dag.config.snapshots import load_config_cached
from tekton_dag.observability import metrics

RELOAD_ENV: Final = "TEKTON_DAG_CONFIG_RELOAD_S"
DEFAULT_RELOAD_S: Final = 5.0
NO_TEAM: Final = ("no team is configured yet: install the chart with the team's values "
                  "(-f teams/<team>/values.yaml, docs/onboarding.md)")

log = logging.getLogger(__name__)

# ``preload``'s store of a root and how its first refresh went, until that root's ConfigSource takes it.
_preloaded: dict[str, tuple[ConfigStore, Refresh]] = {}


def preload(root: str) -> None:
    """Load the configuration under ``root`` now, for the first ``ConfigSource`` of ``root``.

    Called by ``tekton-dag serve`` before the server starts its threads, so that a first load
    of many teams reads them on every core (a resolver with 1,000 teams x 40 apps and no
    snapshot was ready after 3.2-3.9 s loading them alone; docs/performance.md). A change to
    the files after it is found by the store's next refresh, as after any load. A load that
    raises is not kept: the function loads as it would have, and meets the error itself."""
    try:
        store = _store(root)
        _preloaded[os.fspath(Path(root))] = (store, store.refresh())
    except Exception as exc:
        log.warning("loading the configuration under %s before serving failed: %s", root, exc)


def preload_from_env() -> None:
    """``preload`` of the root this process's functions will read (a func project's ``func.py``)."""
    preload(root_from_env(os.environ))


def root_from_env(env: Mapping[str, str]) -> str:
    """The configuration root a function reads: ``TEKTON_DAG_TEAMS_DIR``, else ``./teams``."""
    return env.get(TEAMS_DIR_ENV) or DEFAULT_TEAMS_DIR


def forget_preloaded() -> None:
    """Drop what ``preload`` kept (a process that forked its workers and serves nothing itself)."""
    _preloaded.clear()


class ConfigSource:
    """Current config + index; ``current()`` is None until a configuration loaded."""

    def __init__(self, root: str, reload_interval: float = DEFAULT_RELOAD_S):
        preloaded = _preloaded.pop(os.fspath(Path(root)), None)  # ``preload``: before the server started
        if preloaded is None:
            self.store = _store(root)
            self._record(self.store.refresh())
        else:
            self.store, first = preloaded
            self._record(first)
        self._watcher: asyncio.Task[None] | None = None
        if reload_interval > 0:
            with contextlib.suppress(RuntimeError):  # no running loop: serve the first load only
                self._watcher = asyncio.get_running_loop().create_task(self._watch(reload_interval))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ConfigSource:
        try:
            interval = float(env.get(RELOAD_ENV) or DEFAULT_RELOAD_S)
        except ValueError:
            log.warning("%s=%r is not a number of seconds; using %s", RELOAD_ENV, env[RELOAD_ENV], DEFAULT_RELOAD_S)
            interval = DEFAULT_RELOAD_S
        return cls(root_from_env(env), interval)

    async def _watch(self, interval: float) -> None:
        await asyncio.sleep(interval)  # the first load already happened in __init__
        await self.store.watch(interval, report=self._record)

    def _record(self, result: Refresh) -> None:
        """Reloads and the state of the configuration in use, as metrics (docs/operations.md)."""
        if result is Refresh.UNCHANGED:
            return
        snapshot = self.store.snapshot

        def update() -> None:  # when the metrics are made: after ready at a function's start
            metrics.CONFIG_RELOADS.labels("ok" if result is Refresh.LOADED else "invalid").inc()
            metrics.CONFIG_LAST_RELOAD_OK.set(1 if result is Refresh.LOADED else 0)
            if snapshot is not None:
                metrics.CONFIG_LOADED_AT.set(snapshot.loaded_at)

        metrics.record(update)

    def current(self) -> Config | None:
        return self.store.config

    def no_team(self) -> bool:
        """True while the served configuration has no team (an empty teams folder)."""
        config = self.store.config
        return config is not None and not config.teams

    def index(self) -> ResolverIndex | None:
        return self.store.index

    def problem(self) -> str:
        """Why the files on disk are not (all) being served; "" when they are."""
        errors = self.store.errors
        if not errors:
            return "" if self.store.config else f"no configuration under {self.store.root}"
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        return "; ".join(str(e) for e in errors[:3]) + more

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()


def _store(root: str) -> ConfigStore:
    cache = TeamCache()  # unchanged teams are reused across reloads
    return ConfigStore(root, lambda path: _load(path, cache), cache)


def _load(root: Path, cache: TeamCache) -> LoadResult:
    """A function's load: from a snapshot of the last valid load when one matches
    (config/snapshots.py), at a start and after a change; an empty folder is no team."""
    return load_config_cached(root, cache) if not _empty(root) else _no_team(root)


def _empty(root: Path) -> bool:
    """A folder with no visible entry: ConfigMap bookkeeping ("..data") and dot files do not count."""
    try:
        return root.is_dir() and not any(not entry.name.startswith(".") for entry in root.iterdir())
    except OSError:
        return False


def _no_team(root: Path) -> LoadResult:
    return LoadResult(Config(teams=(), root=str(root)), ())
