"""dead-letters: the Broker's dead-letter sink, which keeps every letter and replays on request.

A func-python cloudevent function (``tekton-dag serve dead-letters``). Each event the Broker gave
up on (binary or structured mode, with Knative's ``knativeerror*`` extensions) is stored as one
ConfigMap in the release's namespace (``kube.deadletters``), at most
``TEKTON_DAG_DEAD_LETTERS_MAX`` of them (default 200): the oldest go first, and every one dropped
before it was replayed counts in ``tektondag_dead_letters_dropped_total``. It answers the Broker:

- 200 (empty) once the letter is stored;
- 503 when the API server cannot be reached (the Broker retries its delivery to the sink).

Replays: ``tekton-dag dead-letters replay`` labels letters ``replay-requested``; every
``TEKTON_DAG_DEAD_LETTERS_REPLAY_SECONDS`` (default 5) this function publishes each one's original
event to the Broker (``K_SINK``: the chart sets the Broker's ingress address, not a SinkBinding,
which would wait for the Broker while the Broker waits for its sink) and labels it ``replayed``. So the operator
needs only to patch ConfigMaps in their namespace -- no route to the Broker's ingress from outside
the cluster (docs/operations.md says why). The sink never seals or opens events: a replay is the
stored event unchanged, so sealed events still verify.

Environment: ``K_SINK``, ``KUBECONFIG`` (else in-cluster), ``TEKTON_DAG_NAMESPACE`` (else the
pod's own namespace).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Final

from cloudevents.core.v1.event import CloudEvent

from tekton_dag.eventing.publishing import PublishError
from tekton_dag.events import deadletters
from tekton_dag.functions.lifecycle import NOT_STARTED, Handler, Wiring
from tekton_dag.kube.deadletters import DEFAULT_LIMIT, DeadLetterStore, now
from tekton_dag.kube.errors import ApiError
from tekton_dag.observability import metrics

log = logging.getLogger("tekton_dag.dead_letters")

LIMIT_ENV: Final = "TEKTON_DAG_DEAD_LETTERS_MAX"
REPLAY_ENV: Final = "TEKTON_DAG_DEAD_LETTERS_REPLAY_SECONDS"
NAMESPACE_ENV: Final = "TEKTON_DAG_NAMESPACE"
POD_NAMESPACE_FILE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_REPLAY_S: Final = 5.0


class DeadLetterSink(Handler):
    seals = False  # stores and replays events as they are: never seals or checks one
    configured = False  # no team configuration: a bad one must not stop dead letters being kept

    def __init__(self, wiring: Wiring | None = None) -> None:
        super().__init__(wiring)
        self.store: DeadLetterStore | None = None
        self.settings_problem = ""
        self._tasks: list[asyncio.Task[None]] = []

    def setup(self) -> None:
        """The store (from the environment's cluster and namespace) and the replay loop."""
        metrics.without_configuration()
        try:
            namespace = self.env.get(NAMESPACE_ENV) or _pod_namespace()
            limit = int(self.env.get(LIMIT_ENV) or DEFAULT_LIMIT)
            every = float(self.env.get(REPLAY_ENV) or DEFAULT_REPLAY_S)
            store = DeadLetterStore(namespace, limit)
        except Exception as exc:  # any bad setting: not ready, and say why
            self._not_ready(exc)
            return
        self._tasks.append(asyncio.get_running_loop().create_task(self._connect(store, every)))

    async def _connect(self, store: DeadLetterStore, every: float) -> None:
        """Ready once the client is configured (the kubeconfig or in-cluster config loads); then replay."""
        try:
            await store.core()
        except Exception as exc:  # a bad kubeconfig: not ready, and say why
            self._not_ready(exc)
            return
        self.store = store
        if every > 0:
            await self._replay_loop(every)

    def _not_ready(self, exc: Exception) -> None:
        self.settings_problem = f"dead-letter store: {exc}"
        log.error("dead-letters not ready: %s", self.settings_problem)

    def ready(self) -> tuple[bool, str]:
        """Ready with a store and a Broker address: the team configuration plays no part here."""
        if self.store is None:
            return False, self.settings_problem or NOT_STARTED
        if self.publisher is None:
            return False, "Broker address unknown: K_SINK is not set"
        return True, "OK"

    def teardown(self) -> list[Coroutine[Any, Any, None]]:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        return []

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        status = await self.keep(scope["event"])
        await send.http({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
        await send.http({"type": "http.response.body", "body": b""})

    async def keep(self, event: CloudEvent) -> int:
        """Store one dead letter; the HTTP status for the Broker (module docstring)."""
        if self.store is None:
            return 503
        letter = deadletters.from_dead_lettered(event, received=now())
        try:
            dropped = await self.store.add(letter)
        except ApiError as exc:
            log.error("dead letter %s (%s %s) not stored: %s", letter.name, letter.event_type, letter.event_id, exc)
            return 503
        metrics.DEAD_LETTERS_STORED.inc()
        if dropped:
            metrics.DEAD_LETTERS_DROPPED.inc(dropped)
            log.warning("%d dead letter(s) dropped: more than %d kept", dropped, self.store.limit)
        log.warning("dead letter %s stored: %s %s failed at %s (%s)", letter.name, letter.event_type,
                    letter.event_id, letter.destination or "?", letter.code or "no answer")
        return 200

    async def replay_requested(self) -> int:
        """Publish every letter marked for replay; returns how many were replayed."""
        if self.store is None or self.publisher is None:
            return 0
        replayed = 0
        for letter in await self.store.letters(deadletters.REQUESTED):
            if letter.dropped_data:
                log.error("dead letter %s cannot be replayed: its event was too large to keep", letter.name)
                continue
            try:
                event = deadletters.from_structured(letter.event, f"ConfigMap {letter.name}")
                await self.publisher.publish(event)
            except (deadletters.LetterError, PublishError) as exc:
                log.error("dead letter %s not replayed: %s", letter.name, exc)
                continue
            await self.store.mark_replayed(letter.name)
            metrics.DEAD_LETTERS_REPLAYED.inc()
            replayed += 1
            log.info("dead letter %s replayed: %s %s", letter.name, letter.event_type, letter.event_id)
        return replayed

    async def _replay_loop(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.replay_requested()
            except Exception:  # one bad round (API down) must not end the loop
                log.exception("dead-letter replay round failed")


def _pod_namespace() -> str:
    try:
        return POD_NAMESPACE_FILE.read_text().strip()
    except OSError:
        raise ValueError(f"{NAMESPACE_ENV} is not set and {POD_NAMESPACE_FILE} cannot be read") from None


def new(wiring: Wiring | None = None) -> DeadLetterSink:
    """func-python's factory: one instance per process."""
    return DeadLetterSink(wiring)
