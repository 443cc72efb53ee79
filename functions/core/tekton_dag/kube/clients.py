"""The Kubernetes API client: ``kubernetes_asyncio`` on the event loop, one per process, retried.

``kubernetes_asyncio`` is the asyncio sibling of the official client (the same generated API
classes, on aiohttp). It replaced the official synchronous client run in worker threads: for the
four calls run-creator makes per webhook it measured 0.41x the client CPU (bench/kube_client.py,
docs/performance.md), with no thread hop and no urllib3 per call.

- ``load_api_client``: in-cluster config when running in a pod, else ``KUBECONFIG`` /
  ``~/.kube/config``; ``api_client_from_kubeconfig``: one given kubeconfig file.
- one ``ApiClient`` per process, shared by every adapter: ``tekton_dag.kube.shared``.
- ``RetryingApi.call`` awaits one client call and retries transient failures with exponential
  backoff and jitter until a deadline; then it raises ``TransientApiError``. Writes are safe to
  retry because every write run-creator makes is idempotent (create of a deterministic name,
  clearing a status) or conditional (``resourceVersion``): a write whose first attempt timed out
  but landed shows up as 409 on the retry, which the caller handles by re-reading.

Importing this module imports the client (~0.3 s of a cold start): the adapters import it on
first use or in their ``warm_up``, never before a function is ready.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException
from yarl import URL

from tekton_dag.kube.errors import ApiStatusError, TransientApiError
from tekton_dag.kube.retrying import RetryPolicy

ApiClient = Any  # kubernetes_asyncio.client.ApiClient (its generated methods are untyped)
ConfigErrors = (ConfigException, OSError, ValueError)  # what loading a configuration raises

__all__ = ["ApiException", "ConfigErrors", "RetryingApi", "api_client_from_kubeconfig", "load_api_client", "unread"]


async def load_api_client() -> ApiClient:
    """In-cluster config when running in a pod, else KUBECONFIG / ~/.kube/config."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except ConfigException:
        # Read KUBECONFIG now: the client's own default is frozen when it is imported.
        path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        await config.load_kube_config(config_file=path, client_configuration=configuration)
    return _client(configuration)


async def api_client_from_kubeconfig(path: str) -> ApiClient:
    """A client for the cluster of the kubeconfig file at ``path``, whatever the environment says."""
    configuration = client.Configuration()
    await config.load_kube_config(config_file=path, client_configuration=configuration)
    return _client(configuration)


def kubeconfig_problem(path: str) -> str | None:
    """Why the kubeconfig at ``path`` (a file, or a ``KUBECONFIG`` list of them) gives no client,
    in one line, or None: what the functions would meet on their first Kubernetes call, asked
    before they start (``tekton-dag dev``). The client's config errors are of several types (a
    YAML error, ``ConfigException`` "Invalid kube-config file. Expected key current-context", a
    TypeError for an empty file or a list, said here in words); its YAML errors span several lines."""

    async def load() -> None:
        await (await api_client_from_kubeconfig(path)).close()

    try:
        asyncio.run(load())
    except (TypeError, AttributeError, KeyError, IndexError):  # the client's own wording is Python's
        return "no kubeconfig: expected a YAML mapping with clusters, contexts, users and current-context"
    except Exception as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def _client(configuration: Any) -> ApiClient:
    # kubernetes_asyncio's aiohttp session trusts the environment, which costs every request two
    # worker-thread hops (aiohttp looks up the proxy and ~/.netrc per request, in threads) and a
    # file read: most of the stock client's CPU in bench/kube_client.py. The official client
    # resolved proxy variables once, when configured (kubernetes/client/configuration.py); so do
    # we, then the session trusts nothing more. The session's flag has no public setter (aiohttp
    # ClientSession.trust_env is read-only; kubernetes_asyncio client/rest.py sets it to True).
    if configuration.proxy is None:
        try:
            proxy, _ = get_env_proxy_for_url(URL(configuration.host))
            configuration.proxy = str(proxy)
        except LookupError:  # no proxy variable, or NO_PROXY names the API server
            pass
    api_client = _JsonBodiesClient(configuration)
    api_client.rest_client.pool_manager._trust_env = False
    return api_client


class _JsonBodiesClient(client.ApiClient):  # the generated client, untyped
    """The generated client, sending bodies that are JSON values already as they are.

    Every body the adapters here send is a dict of JSON values (PipelineRuns, Leases, Events,
    ConfigMaps, patches: built from JSON, timestamps as text), never a generated model. The
    generated ``sanitize_for_serialization`` rebuilds any body recursively (models to dicts,
    datetimes to text) before ``json.dumps``: 110 us for one PipelineRun here, more than the
    ``json.dumps`` itself. A dict or list is handed on unchanged; anything else takes the
    generated path. A value ``json`` cannot encode still fails the call (``TypeError``), loudly."""

    def sanitize_for_serialization(self, obj: Any) -> Any:
        if type(obj) is dict or type(obj) is list:
            return obj
        return super().sanitize_for_serialization(obj)


def unread(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
    """``fn`` (a generated API method) for a request whose answer nobody reads, such as a create
    whose caller only needs to know it worked: the answer is read off the connection (which goes
    back to the pool) but neither decoded nor parsed into a dict: for a create that was the whole
    PipelineRun parsed for nothing (docs/performance.md, kube18's section). A status other than 2xx raises
    ``ApiException`` as the client does (``kubernetes_asyncio`` client/rest.py ``request`` with
    ``_preload_content``; client/api_client.py ``__call_api`` decodes its body)."""

    async def send(*args: Any, **kwargs: Any) -> None:
        response = await fn(*args, _preload_content=False, **kwargs)  # aiohttp's ClientResponse
        try:
            data = await response.read()
        finally:
            response.release()
        if not 200 <= response.status <= 299:
            exc = ApiException(status=response.status, reason=response.reason)
            exc.body, exc.headers = data.decode("utf-8", "replace"), response.headers
            raise exc

    return send


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
    """Awaits client calls with retries. 4xx come back as ``ApiStatusError`` (the caller knows
    which 404/409 it expects); what outlasts the deadline as ``TransientApiError``."""

    def __init__(self, policy: RetryPolicy | None = None):
        self.policy = policy or RetryPolicy.from_env()

    async def call(self, what: str, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.deadline
        backoff = self.policy.first_backoff
        attempts = 0
        while True:
            attempts += 1
            try:
                return await fn(*args, _request_timeout=self.policy.timeout, **kwargs)
            except ApiException as exc:
                if not is_transient(exc):
                    raise ApiStatusError(int(exc.status), status_reason(exc), status_message(exc)) from None
                problem, wait = f"API answered {exc.status}: {status_message(exc)}", _retry_after(exc)
            except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
                problem, wait = f"{exc.__class__.__name__}", None
            delay = max(wait or 0.0, backoff * random.uniform(0.5, 1.0))
            if loop.time() + delay > deadline:
                raise TransientApiError(f"{what}: {problem} (gave up after {attempts} attempts)")
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, self.policy.max_backoff)


def _retry_after(exc: ApiException) -> float | None:
    headers: Any = exc.headers or {}
    value = headers.get("Retry-After")  # aiohttp's headers are case-insensitive
    try:
        return min(float(value), 2.0) if value else None
    except ValueError:
        return None
