"""The configuration a function works with: the current ``Config`` and its resolver index.

Functions read ``TEKTON_DAG_TEAMS_DIR`` (default ``./teams``) at start and follow changes through
the reloading store of ``tekton_dag.config.reloading``: a bad edit keeps the last good config
(and ``problem()`` says why). The index is built once per loaded config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from tekton_dag.config.loading import load_config
from tekton_dag.config.models import Config
from tekton_dag.index import ResolverIndex

TEAMS_DIR_ENV: Final = "TEKTON_DAG_TEAMS_DIR"
DEFAULT_TEAMS_DIR: Final = "teams"


class ConfigSource:
    """Current config + index; ``current()`` is None until a config loaded successfully."""

    def __init__(self, root: str):
        self.root = root
        self._config: Config | None = None
        self._index: ResolverIndex | None = None
        self._problem = ""
        self._load()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ConfigSource:
        return cls(env.get(TEAMS_DIR_ENV) or os.path.join(".", DEFAULT_TEAMS_DIR))

    def _load(self) -> None:
        result = load_config(self.root)
        if result.config is None:
            self._problem = "; ".join(str(e) for e in result.errors[:3]) or f"{self.root}: nothing loaded"
            return
        self._set(result.config)

    def _set(self, config: Config) -> None:
        self._config, self._index, self._problem = config, ResolverIndex.from_config(config), ""

    def current(self) -> Config | None:
        return self._config

    def index(self) -> ResolverIndex | None:
        return self._index

    def problem(self) -> str:
        return self._problem

    def close(self) -> None:
        pass
