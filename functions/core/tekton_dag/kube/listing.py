"""List the PipelineRuns tekton-dag created, for ``GET /api/runs``.

Uses the official ``kubernetes`` client (``CustomObjectsApi.list_namespaced_custom_object`` on
``tekton.dev/v1`` pipelineruns), one call per team namespace, selected by the managed-by and team
labels (so teams sharing a namespace see only their runs). The client is synchronous: every call
runs in a worker thread so the function's event loop never blocks.

Cluster access follows the standard order: in-cluster service account, else ``KUBECONFIG`` /
``~/.kube/config``. When neither is usable ``ClusterUnavailable`` says so (the API answers 503).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from tekton_dag import pipelines

if TYPE_CHECKING:
    from kubernetes import client

GROUP: Final = "tekton.dev"
VERSION: Final = "v1"
PLURAL: Final = "pipelineruns"


class ClusterUnavailable(RuntimeError):
    """No cluster configured, or the API server refused or failed the request."""


def _load_api() -> client.CustomObjectsApi:
    # The kubernetes client costs ~150 ms to import: only on first use, never before readiness.
    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException

    from tekton_dag.kube import clients

    try:
        return client.CustomObjectsApi(clients.load_api_client())
    except (ConfigException, OSError) as exc:
        raise ClusterUnavailable(
            "no Kubernetes cluster configured (not in a cluster, and no usable KUBECONFIG or ~/.kube/config)"
        ) from exc


class RunLister:
    """Lists tekton-dag PipelineRuns; connects on first use."""

    def __init__(self) -> None:
        self._api: client.CustomObjectsApi | None = None

    async def list_runs(self, teams: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """Summaries of the runs of each ``(team, namespace)``, newest first."""
        if self._api is None:
            self._api = await asyncio.to_thread(_load_api)
        calls = [asyncio.to_thread(self._list, team, namespace) for team, namespace in teams]
        runs = [run for batch in await asyncio.gather(*calls) for run in batch]
        return sorted(runs, key=lambda run: run["created"] or "", reverse=True)

    def _list(self, team: str, namespace: str) -> list[dict[str, Any]]:
        selector = f"{pipelines.L_MANAGED_BY}={pipelines.MANAGED_BY},{pipelines.L_TEAM}={team}"
        from kubernetes.client.exceptions import ApiException

        assert self._api is not None
        try:
            body = self._api.list_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, label_selector=selector, _request_timeout=10
            )
        except ApiException as exc:
            raise ClusterUnavailable(f"listing PipelineRuns in {namespace} failed: {exc.status} {exc.reason}") from exc
        except OSError as exc:  # urllib3 connection errors derive from OSError
            raise ClusterUnavailable(f"listing PipelineRuns in {namespace} failed: {exc.__class__.__name__}") from exc
        items = body.get("items", ()) if isinstance(body, dict) else ()
        return [summary(item) for item in items]


def summary(run: dict[str, Any]) -> dict[str, Any]:
    """The fields of a PipelineRun worth showing in a list."""
    metadata = run.get("metadata", {})
    labels = metadata.get("labels") or {}
    status = run.get("status") or {}
    succeeded: dict[str, Any] = next((c for c in status.get("conditions") or () if c.get("type") == "Succeeded"), {})
    return {
        "name": metadata.get("name", ""),
        "namespace": metadata.get("namespace", ""),
        "team": labels.get(pipelines.L_TEAM, ""),
        "stack": labels.get(pipelines.L_STACK, ""),
        "app": labels.get(pipelines.L_APP, ""),
        "pipeline": labels.get(pipelines.L_PIPELINE, ""),
        "pr": labels.get(pipelines.L_PR, ""),
        "status": succeeded.get("reason") or ("Pending" if run.get("spec", {}).get("status") else "Unknown"),
        "created": metadata.get("creationTimestamp", ""),
        "completed": status.get("completionTime", ""),
    }
