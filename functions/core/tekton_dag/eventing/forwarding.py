"""Tekton has one CloudEvents sink per cluster; every team needs its own runs' events.

Tekton's ``config-events`` ``sink`` is cluster-wide (tektoncd/pipeline docs/additional-configs.md
"Configuring CloudEvents notifications"), so it points at ONE team's Broker. That team's
run-creator reads the run's namespace from the event's ``source``
(``/apis/tekton.dev/v1/namespaces/<ns>/PipelineRun/<name>``) and, when no team it serves owns that
namespace, forwards the event unchanged to the Broker of the team that does:
``TEKTON_DAG_TEAM_BROKER_URL`` with ``{namespace}`` filled in (default: Knative's MT channel
Broker ingress for Broker ``tekton-dag``, which every release names its Broker). The forwarded copy
carries the extension ``tektondagforwarded`` so it is never forwarded twice (no loops). A 404 means
that namespace has no tekton-dag Broker (a Tekton user outside tekton-dag): the event is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.events import catalog

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

TEAM_BROKER_URL_ENV = "TEKTON_DAG_TEAM_BROKER_URL"
DEFAULT_TEAM_BROKER_URL = "http://broker-ingress.knative-eventing.svc.cluster.local/{namespace}/tekton-dag"


class ForwardError(Exception):
    """The owning team's Broker could not take the event now; Tekton should retry (5xx)."""


class TeamForwarder:
    def __init__(self, template: str = DEFAULT_TEAM_BROKER_URL, client: httpx.AsyncClient | None = None,
                 timeout: float = 5.0):
        if "{namespace}" not in template:
            raise ValueError(f"{TEAM_BROKER_URL_ENV}: {template!r} has no {{namespace}}")
        self.template = template
        self._client = client
        self._timeout = timeout

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TeamForwarder:
        return cls(env.get(TEAM_BROKER_URL_ENV) or DEFAULT_TEAM_BROKER_URL)

    def destination(self, namespace: str) -> str:
        return self.template.replace("{namespace}", namespace)

    async def forward(self, event: CloudEvent, namespace: str, by: str) -> str:
        """Send ``event`` to ``namespace``'s Broker; says what happened ("forwarded", "no Broker",
        "already forwarded"). ``by``: who forwards (the namespaces this run-creator serves)."""
        if event.get_extension(catalog.EXT_FORWARDED):
            log.warning("Tekton event %s for namespace %s was forwarded here by %s, and no team here owns it: dropped",
                        event.get_id(), namespace, event.get_extension(catalog.EXT_FORWARDED))
            return "already forwarded"
        copy = CloudEvent({**event.get_attributes(), catalog.EXT_FORWARDED: by}, event.get_data())
        message = to_binary_event(copy)
        url = self.destination(namespace)
        import httpx  # on first use: a function starts without it (~60 ms of its start-up)

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        try:
            response = await self._client.post(url, headers=dict(message.headers), content=message.body)
        except httpx.HTTPError as exc:
            raise ForwardError(
                f"Broker of namespace {namespace} at {url} unreachable: {exc.__class__.__name__}"
            ) from None
        if response.status_code == 404:
            log.info("Tekton event %s: namespace %s has no tekton-dag Broker (%s answered 404): dropped",
                     event.get_id(), namespace, url)
            return "no Broker"
        if not 200 <= response.status_code < 300:
            raise ForwardError(f"Broker of namespace {namespace} at {url} answered {response.status_code}")
        return "forwarded"

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
