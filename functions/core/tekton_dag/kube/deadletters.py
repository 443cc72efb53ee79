"""Dead letters kept in the cluster: one ConfigMap per letter, in the release's namespace.

Why ConfigMaps (docs/operations.md "Dead letters"): durable without a volume -- a PVC stalls an
ArgoCD sync until it binds, and Knative Serving refuses PVCs unless ``kubernetes.podspec-
persistent-volume-claim`` is on -- readable with ``kubectl``, removable with the release, and
bounded by the sink itself. The objects:

- name ``events.deadletters.letter_name`` (the same failure stored twice is one object);
- labels ``tekton-dag.dev/dead-letter: "true"`` and ``tekton-dag.dev/dead-letter-state``
  (``new``, ``replay-requested``, ``replayed``): the CLI and the sink select by them;
- annotations: the failed destination, code, the time stored and replayed;
- data ``event.json`` (the original event, structured mode) and ``error`` (the failed answer).

A ConfigMap holds at most 1 MiB of data (kubernetes pkg/apis/core/validation/validation.go
``ValidateConfigMap``: data and binaryData together at most ``core.MaxSecretSize``, 1048576
bytes); an event larger than ``MAX_EVENT_BYTES`` is stored without its event (listed, marked
not replayable) rather than lost without a trace.

Bounded: ``add`` keeps at most ``limit`` letters, deleting replayed ones first, then the oldest;
it returns how many letters not yet replayed it deleted, which the sink counts as dropped.
Verbs used: ConfigMaps create, list, patch, delete (the chart's Role grants exactly these).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from kubernetes_asyncio import client as client_module
from kubernetes_asyncio.client.rest import RESTResponse

from tekton_dag.events.deadletters import NEW, REPLAYED, REQUESTED, STATES, Letter, LetterError
from tekton_dag.kube.clients import ApiException, ConfigErrors, RetryingApi
from tekton_dag.kube.errors import ApiStatusError, TransientApiError
from tekton_dag.kube.shared import PROCESS, SharedClient

LABEL: Final = "tekton-dag.dev/dead-letter"
STATE_LABEL: Final = "tekton-dag.dev/dead-letter-state"
ANNOTATION: Final = "tekton-dag.dev/dead-letter-"  # + destination, code, received, replayed, dropped-data
EVENT_KEY: Final = "event.json"
ERROR_KEY: Final = "error"
MAX_EVENT_BYTES: Final = 900 * 1024  # under the 1 MiB a ConfigMap's data may hold, leaving room for the rest
DEFAULT_LIMIT: Final = 200


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def config_map(letter: Letter, namespace: str) -> dict[str, Any]:
    """The ConfigMap that stores ``letter`` (pure)."""
    event = json.dumps(letter.event, separators=(",", ":"))
    dropped = letter.dropped_data or len(event.encode()) > MAX_EVENT_BYTES
    annotations = {ANNOTATION + "destination": letter.destination, ANNOTATION + "code": letter.code,
                   ANNOTATION + "received": letter.received, ANNOTATION + "event-id": letter.event_id,
                   ANNOTATION + "event-type": letter.event_type}
    if dropped:
        annotations[ANNOTATION + "dropped-data"] = f"event of {len(event.encode())} bytes not kept"
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": letter.name, "namespace": namespace, "annotations": annotations,
                     "labels": {LABEL: "true", STATE_LABEL: letter.state,
                                "app.kubernetes.io/managed-by": "tekton-dag"}},
        "data": {EVENT_KEY: "{}" if dropped else event, ERROR_KEY: letter.error[:4096]},
    }


def letter_of(obj: dict[str, Any]) -> Letter:
    """The letter a stored ConfigMap holds; ``LetterError`` naming it when it is not one."""
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name", ""))
    annotations = metadata.get("annotations") or {}
    data = obj.get("data") or {}
    try:
        event = json.loads(data.get(EVENT_KEY) or "{}")
    except json.JSONDecodeError as exc:
        raise LetterError(f"ConfigMap {name}: {EVENT_KEY} is not JSON ({exc.msg})") from None
    state = (metadata.get("labels") or {}).get(STATE_LABEL, NEW)
    return Letter(
        name=name, event=event if isinstance(event, dict) else {},
        destination=annotations.get(ANNOTATION + "destination", ""), code=annotations.get(ANNOTATION + "code", ""),
        error=str(data.get(ERROR_KEY, "")), received=annotations.get(ANNOTATION + "received", ""),
        state=state if state in STATES else NEW, replayed=annotations.get(ANNOTATION + "replayed", ""),
        dropped_data=ANNOTATION + "dropped-data" in annotations,
    )


class DeadLetterStore:
    """The letters of one namespace, through the ``kubernetes_asyncio`` client of ``kubeconfig``
    (its own), by default the process's (``shared.PROCESS``)."""

    def __init__(self, namespace: str, limit: int = DEFAULT_LIMIT, api: RetryingApi | None = None,
                 kubeconfig: str | None = None):
        if limit < 1:
            raise ValueError(f"the dead-letter limit must be at least 1, got {limit}")
        self.namespace = namespace
        self.limit = limit
        self.api = api or RetryingApi()
        self.shared = SharedClient.for_kubeconfig(kubeconfig) if kubeconfig else PROCESS
        self._core: Any = None

    async def core(self) -> Any:
        """The ``CoreV1Api`` of the (running loop's) client; a configuration error as ``TransientApiError``."""
        try:
            api_client = await self.shared.get()
        except ConfigErrors as exc:
            raise TransientApiError(f"dead letters: Kubernetes client not configured: {exc}") from None
        if self._core is None or self._core.api_client is not api_client:
            self._core = client_module.CoreV1Api(api_client)
        return self._core

    async def add(self, letter: Letter) -> int:
        """Store ``letter`` (again: as new); returns how many unreplayed letters were dropped for room."""
        body = config_map(letter, self.namespace)
        try:
            core = await self.core()
            await self.api.call("create dead letter", core.create_namespaced_config_map, self.namespace, body)
        except ApiStatusError as exc:
            if exc.status != 409:
                raise exc.permanent(f"ConfigMap {letter.name}") from None
            # The same event failed again at the same subscriber (or the Broker retried the sink).
            await self._patch(letter.name, {"metadata": {k: body["metadata"][k] for k in ("labels", "annotations")},
                                             "data": body["data"]})
            return 0
        return await self._bound(keep=letter.name)

    async def letters(self, state: str | None = None) -> list[Letter]:
        """The stored letters (of ``state`` only, when given), oldest first."""
        selector = f"{LABEL}=true" + (f",{STATE_LABEL}={state}" if state else "")
        items = await self._list(selector)
        return sorted((letter_of(item) for item in items), key=lambda letter: (letter.received, letter.name))

    async def request_replay(self, name: str) -> None:
        """Mark one letter for the sink to replay (404 ``ApiStatusError`` when there is none)."""
        await self._patch(name, {"metadata": {"labels": {STATE_LABEL: REQUESTED}}})

    async def mark_replayed(self, name: str) -> None:
        await self._patch(name, {"metadata": {"labels": {STATE_LABEL: REPLAYED},
                                              "annotations": {ANNOTATION + "replayed": now()}}})

    async def _bound(self, keep: str) -> int:
        items = [letter_of(item) for item in await self._list(f"{LABEL}=true")]
        excess = len(items) - self.limit
        if excess <= 0:
            return 0
        # Replayed letters go first, then the oldest; never the one just stored.
        victims = sorted((i for i in items if i.name != keep),
                         key=lambda letter: (letter.state != REPLAYED, letter.received, letter.name))[:excess]
        dropped = 0
        for victim in victims:
            try:
                await self.api.call("delete dead letter", (await self.core()).delete_namespaced_config_map, victim.name,
                                    self.namespace)
            except ApiStatusError as exc:
                if exc.status != 404:  # gone already: someone else made the room
                    raise exc.permanent(f"ConfigMap {victim.name}") from None
                continue
            dropped += victim.state != REPLAYED
        return dropped

    async def _list(self, selector: str) -> list[dict[str, Any]]:
        # Raw JSON (_preload_content=False): the letters are read as the API stored them. The
        # client then hands back aiohttp's response unchecked: an error status is raised here.
        core = await self.core()

        async def fetch(**options: Any) -> Any:
            response = await core.list_namespaced_config_map(self.namespace, label_selector=selector,
                                                             _preload_content=False, **options)
            async with response:
                data = await response.read()
            if not 200 <= response.status <= 299:
                raise ApiException(http_resp=RESTResponse(response, data.decode(errors="replace")))  # type: ignore[arg-type]  # as rest.py does
            return json.loads(data)

        body: dict[str, Any] = await self.api.call("list dead letters", fetch)
        items: list[dict[str, Any]] = body.get("items") or []
        return items

    async def _patch(self, name: str, patch: dict[str, Any]) -> None:
        try:
            core = await self.core()
            await self.api.call("patch dead letter", core.patch_namespaced_config_map, name, self.namespace, patch,
                                _content_type="application/merge-patch+json")
        except ApiStatusError as exc:
            raise exc.permanent(f"ConfigMap {name}") from None
