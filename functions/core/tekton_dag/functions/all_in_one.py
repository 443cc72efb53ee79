"""The all-in-one function: the four handlers in one process behind an in-process bus.

For installs without Knative Eventing (one Knative Service, or ``func run`` on a laptop). The bus
is the local Broker itself with the Triggers of ``routing`` (the same routing as ``knative/``):
the same filters, retries, replies, TTL and dead letters, but every hop is an in-process ASGI
call instead of a network request. Only webhook-ingest's routes are reachable from outside;
the bus has no public address, so nobody can inject events that skip signature checks.

Dead letters go to ``TEKTON_DAG_DEAD_LETTER_FILE`` (default ``/tmp/tekton-dag/dead-letters.jsonl``)
and the log. Every accepted event is in the bus's journal ``TEKTON_DAG_JOURNAL`` (default
``/tmp/tekton-dag/broker-journal.sqlite3``; mount a volume there) before the webhook is acked;
on stop what is still in flight stays there, and the next start resumes it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tekton_dag.bus import routing
from tekton_dag.bus.broker import LocalBroker
from tekton_dag.bus.delivery import Destination
from tekton_dag.bus.journal import JOURNAL_ENV, SYNC_ENV, Journal
from tekton_dag.eventing.publishing import K_SINK_ENV, Publisher
from tekton_dag.bus.triggers import Topology, Trigger, compile_attributes
from tekton_dag.functions.serving import FUNCTIONS

log = logging.getLogger("tekton_dag.allinone")

BROKER_URL = "http://broker.tekton-dag.internal/tekton-dag/tekton-dag"
DEAD_LETTER_ENV = "TEKTON_DAG_DEAD_LETTER_FILE"
DEFAULT_DEAD_LETTER_FILE = "/tmp/tekton-dag/dead-letters.jsonl"
DEFAULT_JOURNAL = "/tmp/tekton-dag/broker-journal.sqlite3"
PUBLIC = "webhook-ingest"


def internal_url(function: str) -> str:
    return f"http://{function}.tekton-dag.internal/"


def topology() -> Topology:
    """The Triggers of ``knative/triggers.yaml``, built from the routing table they are checked against."""
    triggers = tuple(
        Trigger(name, "tekton-dag", Destination("Service", function), compile_attributes({"type": event_type}, name))
        for name, (event_type, function) in routing.routes().items()
    )
    return Topology("tekton-dag", routing.DELIVERY, triggers)


class AllInOne:
    """A func-python ``http`` function whose public face is webhook-ingest."""

    def __init__(self) -> None:
        self.broker: LocalBroker | None = None
        self.instances: dict[str, Any] = {}

    def start(self, cfg: Mapping[str, str]) -> None:
        """Build the bus and start the four handlers with ``K_SINK`` = the bus (runs in the server loop)."""
        dead_letters = Path(cfg.get(DEAD_LETTER_ENV) or DEFAULT_DEAD_LETTER_FILE)
        journal = Journal(Path(cfg.get(JOURNAL_ENV) or DEFAULT_JOURNAL), cfg.get(SYNC_ENV, "NORMAL").upper())  # type: ignore[arg-type]
        self.broker = LocalBroker(topology(), {name: internal_url(name) for name in FUNCTIONS}, dead_letters,
                                  journal=journal)
        recovered = self.broker.recover()  # JournalError (named file, reason) fails the start
        bus = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.broker), timeout=30.0)  # type: ignore[arg-type]
        env = {**cfg, K_SINK_ENV: BROKER_URL}
        mounts: dict[str, httpx.AsyncBaseTransport] = {}
        for name, spec in FUNCTIONS.items():
            module = importlib.import_module(spec.module)
            instance = module.new(bus) if name in ("webhook-ingest", "resolver") else module.new()
            instance.start(env)
            if getattr(instance, "publisher", None) is not None and name not in ("webhook-ingest", "resolver"):
                instance.publisher = Publisher(BROKER_URL, client=bus)  # its new() takes no client
            self.instances[name] = instance
            runtime = importlib.import_module(f"func_python.{spec.invoke}")
            app = runtime.ASGIApplication(instance)
            mounts[f"all://{internal_url(name)[7:-1]}"] = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self.broker.start(mounts)  # resumes what the journal held
        if recovered:
            log.warning("resuming %d undelivered deliveries from %s", recovered, journal.path)

    def stop(self) -> None:
        if self.broker is not None:
            lost = self.broker.abandon()
            if lost:
                log.warning("stopped with %d deliveries in flight: dead-lettered to %s", lost, self.broker.dead_letter_file)
        for instance in self.instances.values():
            if hasattr(instance, "stop"):
                instance.stop()

    def alive(self) -> tuple[bool, str]:
        return True, "OK"

    def ready(self) -> tuple[bool, str]:
        if self.broker is None:
            return False, "not started"
        problems = []
        for name, instance in self.instances.items():
            result = instance.ready() if hasattr(instance, "ready") else True
            ok, message = result if isinstance(result, tuple) else (bool(result), "")
            if not ok:
                problems.append(f"{name}: {message}")
        return (not problems, "; ".join(problems) or "OK")

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.instances[PUBLIC].handle(scope, receive, send)


def new() -> AllInOne:
    """func-python's factory for the root ``func.yaml``."""
    return AllInOne()
