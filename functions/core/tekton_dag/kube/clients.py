"""The official ``kubernetes`` client, configured the standard way, called off the event loop.

``RetryingApi.call`` runs one synchronous client call in a worker thread
(``asyncio.to_thread``) and retries transient failures with exponential backoff and jitter
until a deadline; then it raises ``TransientApiError``. Writes are safe to retry because every
write run-creator makes is idempotent (create of a deterministic name, clearing a status) or
conditional (``resourceVersion``): a write whose first attempt timed out but landed shows up
as 409 on the retry, which the caller handles by re-reading instead of assuming.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Callable
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from tekton_dag.kube.errors import ApiStatusError, TransientApiError
from tekton_dag.kube.retrying import RetryPolicy

T = TypeVar("T")

def load_api_client() -> client.ApiClient:
    """In-cluster config when running in a pod, else KUBECONFIG / ~/.kube/config."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except ConfigException:
        # Read KUBECONFIG now: the client's own default is frozen when it is imported.
        path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        config.load_kube_config(config_file=path, client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.retries = False  # our own retry loop owns retries and their deadline
    return client.ApiClient(configuration)


def api_client_from_kubeconfig(path: str) -> client.ApiClient:
    """A client for the cluster of the kubeconfig file at ``path``, whatever the environment says."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=path, client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


def status_message(exc: ApiException) -> str:
    """The ``message`` of the Status body the API answered with, else its reason phrase."""
    try:
        body = json.loads(exc.body or "")
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or "no message")


def status_reason(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "")
    except ValueError:
        return ""
    return str(body.get("reason", "")) if isinstance(body, dict) else ""


def is_transient(exc: ApiException) -> bool:
    return not exc.status or exc.status == 429 or exc.status >= 500


class RetryingApi:
    """Runs client calls in threads with retries. 4xx come back as ``ApiStatusError`` (the
    caller knows which 404/409 it expects); what outlasts the deadline as ``TransientApiError``."""

    def __init__(self, policy: RetryPolicy | None = None):
        self.policy = policy or RetryPolicy.from_env()

    async def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.deadline
        backoff = self.policy.first_backoff
        attempts = 0
        while True:
            attempts += 1
            try:
                return await asyncio.to_thread(fn, *args, _request_timeout=self.policy.timeout, **kwargs)
            except ApiException as exc:
                if not is_transient(exc):
                    raise ApiStatusError(int(exc.status), status_reason(exc), status_message(exc)) from None
                problem, wait = f"API answered {exc.status}: {status_message(exc)}", _retry_after(exc)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                problem, wait = f"{exc.__class__.__name__}", None
            delay = max(wait or 0.0, backoff * random.uniform(0.5, 1.0))
            if loop.time() + delay > deadline:
                raise TransientApiError(f"{what}: {problem} (gave up after {attempts} attempts)")
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, self.policy.max_backoff)


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return min(float(value), 2.0) if value else None
    except ValueError:
        return None
