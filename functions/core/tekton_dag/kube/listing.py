"""List the PipelineRuns tekton-dag created, for ``GET /api/runs``.

Uses the ``kubernetes_asyncio`` client (``CustomObjectsApi.list_namespaced_custom_object`` on
``tekton.dev/v1`` pipelineruns; by default the process's, ``shared.PROCESS``), one call per team
namespace, selected by the managed-by and team labels (so teams sharing a namespace see only their
runs) and the filters that are labels (stack, app, PR, pipeline); pages pass ``limit`` and
``continue`` through to the API server.

Cluster access follows the standard order: in-cluster service account, else ``KUBECONFIG`` /
``~/.kube/config``. When neither is usable ``ClusterUnavailable`` says so (the API answers 503).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from tekton_dag import pipelines
from tekton_dag.kube import shared

GROUP: Final = "tekton.dev"
VERSION: Final = "v1"
PLURAL: Final = "pipelineruns"


class ClusterUnavailable(RuntimeError):
    """No cluster configured, or the API server refused or failed the request."""


async def _load_api() -> tuple[Any, Any]:
    """(the client's ``CustomObjectsApi``, its ``ApiException``); ``ClusterUnavailable`` without a cluster."""
    try:
        api_client = await shared.PROCESS.get()
    except Exception as exc:  # the client's config errors have no common base class
        raise ClusterUnavailable(
            "no Kubernetes cluster configured (not in a cluster, and no usable KUBECONFIG or ~/.kube/config)"
        ) from exc
    from kubernetes_asyncio.client import CustomObjectsApi  # imported by get()

    from tekton_dag.kube.clients import ApiException

    return CustomObjectsApi(api_client), ApiException


STATES: Final = ("pending", "running", "succeeded", "failed", "cancelled")
CANCELLED_REASONS: Final = frozenset({"Cancelled", "PipelineRunCancelled", "CancelledRunFinally", "StoppedRunFinally"})


class BadContinue(ValueError):
    """A ``continue`` token that this query did not hand out (400), or one the API server no
    longer honours (410 Gone, as the server itself answers: start the listing again)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RunQuery:
    """What ``GET /api/runs`` asks for. Label filters go to the API server as a label selector;
    ``state`` has no label, so it is applied to what the server returns."""

    labels: Mapping[str, str] = field(default_factory=dict)  # label -> value, besides managed-by and team
    state: str = ""
    limit: int = 0  # 0: everything, newest first; else pages in the API's order
    token: str = ""

    def fingerprint(self, teams: Iterable[tuple[str, str]]) -> str:
        """Ties a continue token to the query (and teams) that made it: a token says where it
        stopped among exactly these teams (the apiserver ties its own to the list it came from)."""
        text = json.dumps([sorted(self.labels.items()), self.state, list(teams)], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RunPage:
    items: list[dict[str, Any]]
    next_token: str = ""  # "" on the last page


class RunLister:
    """Lists tekton-dag PipelineRuns through the process's client (``shared.PROCESS``), made on first use."""

    async def list_runs(self, teams: Iterable[tuple[str, str]], query: RunQuery | None = None) -> RunPage:
        """Summaries of the runs of each ``(team, namespace)`` that match ``query``.

        Without a limit: every match, newest first (one list call per team). With one: at most
        ``limit`` runs read from the API per page, team by team in name order, passing ``limit``
        and ``continue`` through to the API server; the token we hand out wraps its token with
        the team we were at. A page may hold fewer matches than ``limit`` while more follow (the
        ``state`` filter drops some), as the Kubernetes list API allows."""
        query = query or RunQuery()
        teams = list(teams)
        api = await _load_api()
        if not query.limit:
            calls = [self._list(api, team, namespace, query) for team, namespace in teams]
            runs = [run for batch in await asyncio.gather(*calls) for run in batch]
            return RunPage(sorted(runs, key=lambda run: run["created"] or "", reverse=True))
        fingerprint = query.fingerprint(teams)
        at, api_token = _decode(query.token, fingerprint, len(teams))
        items: list[dict[str, Any]] = []
        budget = query.limit
        while at < len(teams) and budget > 0:
            team, namespace = teams[at]
            batch, read, api_token = await self._list_page(api, team, namespace, query, budget, api_token)
            items += batch
            budget -= read
            if not api_token:
                at += 1
        next_token = _encode(at, api_token, fingerprint) if at < len(teams) else ""
        return RunPage(items, next_token)

    async def _list(self, api: tuple[Any, Any], team: str, namespace: str, query: RunQuery) -> list[dict[str, Any]]:
        return (await self._list_page(api, team, namespace, query, 0, ""))[0]

    async def _list_page(self, api: tuple[Any, Any], team: str, namespace: str, query: RunQuery, limit: int,
                         token: str) -> tuple[list[dict[str, Any]], int, str]:
        """(matching summaries, items read, the API's continue token) of one list call."""
        import aiohttp

        objects, api_exception = api
        labels = {pipelines.L_MANAGED_BY: pipelines.MANAGED_BY, pipelines.L_TEAM: team, **query.labels}
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        paging: dict[str, Any] = {"limit": limit} if limit else {}
        if token:
            paging["_continue"] = token
        try:
            body = await objects.list_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, label_selector=selector, _request_timeout=10, **paging
            )
        except api_exception as exc:
            if exc.status == 410:  # the API server's token expired (compaction): start over
                raise BadContinue("continue: the listing expired; start again without it", 410) from exc
            raise ClusterUnavailable(f"listing PipelineRuns in {namespace} failed: {exc.status} {exc.reason}") from exc
        except (aiohttp.ClientError, OSError) as exc:  # connection errors, timeouts
            raise ClusterUnavailable(f"listing PipelineRuns in {namespace} failed: {exc.__class__.__name__}") from exc
        body = body if isinstance(body, dict) else {}
        items = body.get("items") or ()
        runs = [summary(item) for item in items]
        matching = [run for run in runs if not query.state or run["state"] == query.state]
        return matching, len(runs), str((body.get("metadata") or {}).get("continue") or "")


def _encode(at: int, api_token: str, fingerprint: str) -> str:
    raw = json.dumps({"t": at, "c": api_token, "q": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str, fingerprint: str, teams: int) -> tuple[int, str]:
    if not token:
        return 0, ""
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        at, api_token, made_for = int(body["t"]), str(body["c"]), str(body["q"])
    except (ValueError, KeyError, TypeError):
        raise BadContinue("continue: not a token this API handed out") from None
    if made_for != fingerprint or not 0 <= at < teams:
        raise BadContinue("continue: the token belongs to another query (same filters and teams needed)")
    return at, api_token


def state_of(run: Mapping[str, Any]) -> str:
    """pending, running, succeeded, failed or cancelled, from what Tekton reports."""
    if (run.get("spec") or {}).get("status") == "PipelineRunPending":
        return "pending"
    status = run.get("status") or {}
    succeeded: dict[str, Any] = next((c for c in status.get("conditions") or () if c.get("type") == "Succeeded"), {})
    if succeeded.get("status") == "True":
        return "succeeded"
    if succeeded.get("status") == "False":
        return "cancelled" if succeeded.get("reason") in CANCELLED_REASONS else "failed"
    return "running"  # started, or not yet picked up by Tekton's controller


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
        "state": state_of(run),
        "created": metadata.get("creationTimestamp", ""),
        "completed": status.get("completionTime", ""),
    }
