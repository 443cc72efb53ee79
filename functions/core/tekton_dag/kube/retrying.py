"""How long and how often Kubernetes calls are retried (no client import: cheap to load)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEADLINE_ENV = "TEKTON_DAG_KUBE_DEADLINE_SECONDS"
TIMEOUT_ENV = "TEKTON_DAG_KUBE_TIMEOUT_SECONDS"


@dataclass(frozen=True)
class RetryPolicy:
    deadline: float = 10.0  # total seconds one logical call may take, retries included
    timeout: float = 5.0  # seconds per HTTP request
    first_backoff: float = 0.05
    max_backoff: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RetryPolicy:
        env = os.environ if env is None else env
        return cls(
            deadline=float(env.get(DEADLINE_ENV, cls.deadline)), timeout=float(env.get(TIMEOUT_ENV, cls.timeout))
        )
