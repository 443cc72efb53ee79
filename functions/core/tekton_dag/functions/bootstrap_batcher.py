"""bootstrap-batcher: ``bootstrap.requested`` in; ``run.requested`` per stack out, and the plan as reply.

Answers (DESIGN.md "answer honestly"):

- 200 + ``bootstrap.planned`` after every ``run.requested`` reached the Broker (``K_SINK``);
- 200 + ``bootstrap.skipped`` when every selected image already exists (nothing published);
- 200 + ``run.failed`` (``reason: rejected``) for an unknown team, stack or app: nothing started;
- 400 + ``run.failed`` (``reason: invalid``) for data that is not a bootstrap request (never retried);
- 401/403 + ``run.failed`` (``reason: unsealed``) for a request without this team's seal (``events.sealing``);
- 502 when the Broker refused a ``run.requested`` (retried; derived ids make the retry idempotent);
- 503 while not ready (configuration invalid, no ``K_SINK``, unreadable registry credentials).

Environment (read by ``start``): ``TEKTON_DAG_TEAMS_DIR`` (default ``./teams``), re-checked every
``TEKTON_DAG_CONFIG_RELOAD_S`` seconds (default 5; 0 = never) through the functions' shared
``ConfigSource`` (a bad edit keeps the last good configuration), ``K_SINK``,
``TEKTON_DAG_REGISTRY_CONCURRENCY`` (default 8 HEADs at once), ``TEKTON_DAG_REGISTRY_TIMEOUT``
(seconds, default 5), and the registry credentials of ``tekton_dag.oci.credentials``.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from tekton_dag.bootstrap import events
from tekton_dag.bootstrap.selection import BootstrapRejected
from tekton_dag.eventing.publishing import PublishError
from tekton_dag.events import catalog, codec, sealing
from tekton_dag.events.requests import BootstrapRequest, RequestError
from tekton_dag.functions.lifecycle import Handler, Wiring
from tekton_dag.oci.client import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_S, RegistryClient
from tekton_dag.oci.credentials import CredentialsError, load_credentials
from tekton_dag.usecases.bootstrapping import plan_bootstrap

log = logging.getLogger("tekton_dag.bootstrap_batcher")

CONCURRENCY_ENV = "TEKTON_DAG_REGISTRY_CONCURRENCY"
TIMEOUT_ENV = "TEKTON_DAG_REGISTRY_TIMEOUT"


class BootstrapBatcher(Handler):
    def __init__(self, wiring: Wiring | None = None) -> None:
        super().__init__(wiring)
        self.registry: RegistryClient | None = None
        self.settings_problem = ""

    def setup(self) -> None:
        """The registry client, from the registry settings and credentials in the environment."""
        try:
            self.registry = RegistryClient(
                load_credentials(self.env),
                concurrency=self._setting(CONCURRENCY_ENV, int, DEFAULT_CONCURRENCY, "a whole number, 1 or more"),
                timeout=self._setting(TIMEOUT_ENV, float, DEFAULT_TIMEOUT_S, "a number of seconds above 0"),
            )
        except (CredentialsError, ValueError) as exc:
            self.settings_problem = f"registry settings: {exc}"
            log.error("bootstrap-batcher not ready: %s", self.settings_problem)

    def problem(self) -> str:
        return self.settings_problem

    def _setting(self, name: str, kind: type[int] | type[float], default: float, expected: str) -> Any:
        """``name`` from the environment as ``kind``, above 0 and finite (a timeout of 0, -1 or
        nan would fail every check, or raise in asyncio); ValueError names the variable."""
        text = self.env.get(name) or ""
        try:
            value = kind(text) if text else default
        except ValueError:
            value = None
        if value is None or not 0 < value < float("inf"):
            raise ValueError(f"{name}={text!r}: expected {expected}")
        return value

    def teardown(self) -> list[Coroutine[Any, Any, None]]:
        return [self.registry.aclose()] if self.registry is not None else []

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        reply, status = await self.answer(scope["event"])
        await send(reply, status)

    async def answer(self, event: CloudEvent) -> tuple[CloudEvent, int]:
        """The reply event and HTTP status for one incoming event (module docstring)."""
        try:
            data = codec.data(event)
        except codec.EventDecodeError as exc:
            return events.rejected_event(event, None, str(exc), "invalid"), 400
        ready, problem = self.ready()
        config = self.configs.current() if self.configs else None
        if not (ready and config and self.publisher and self.registry):
            return events.rejected_event(event, data, f"not ready: {problem}", "unavailable"), 503
        try:
            if event.get_type() != catalog.BOOTSTRAP_REQUESTED:
                raise RequestError(f"type: expected {catalog.BOOTSTRAP_REQUESTED}, got {event.get_type()!r}")
            request = BootstrapRequest.from_data(data, strict=False)
        except RequestError as exc:
            return events.rejected_event(event, data, str(exc), "invalid"), 400
        try:
            self.keys.check(event, data)
        except sealing.SealError as exc:
            log.warning("bootstrap %s refused: %s", event.get_id(), exc.reason)
            return events.rejected_event(event, data, exc.reason, "unsealed"), exc.status
        try:
            plan = await plan_bootstrap(config, request, self.registry)
        except BootstrapRejected as exc:
            log.info("bootstrap %s rejected: %s", request.delivery, exc)
            return events.rejected_event(event, data, str(exc)), 200
        try:
            for run in events.run_requested_events(plan, request, event):
                await self.publisher.publish(self.keys.seal(run, run.get_data()))
        except PublishError as exc:
            log.warning("bootstrap %s: %s", request.delivery, exc)
            return events.rejected_event(event, data, str(exc), "publish-failed"), 502
        for stack in plan.stacks:
            log.info("bootstrap %s %s/%s: build %d in %d wave(s), skip %d", request.delivery, plan.team,
                     stack.stack, len(stack.build_apps), len(stack.waves), len(stack.skipped))
        return events.outcome_event(plan, request, event), 200


def new(wiring: Wiring | None = None) -> BootstrapBatcher:
    """func-python's factory: one instance per process."""
    return BootstrapBatcher(wiring)
