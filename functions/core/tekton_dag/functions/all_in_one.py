"""The all-in-one function: the five handlers in one process behind an in-process bus.

For installs without Knative Eventing (one Knative Service, or ``func run`` on a laptop). The bus
is the local Broker itself with the Triggers of ``routing`` (the same routing as ``knative/``):
the same filters, retries, replies, TTL and dead letters, but every hop is a direct call
(``bus.inprocess``: same CloudEvents encoding, seal checks and answer rules, no HTTP). Only
webhook-ingest's routes are reachable from outside; the bus has no public address, so nobody can
inject events that skip signature checks.

Dead letters go to ``TEKTON_DAG_DEAD_LETTER_FILE`` (default ``/tmp/tekton-dag/dead-letters.jsonl``)
and the log. Every accepted event has been delivered, or is in the bus's journal
``TEKTON_DAG_JOURNAL`` (default ``/tmp/tekton-dag/broker-journal.sqlite3``; mount a volume there),
before the webhook is acked: the bus tries an event's delivery in the webhook's own task first
and journals only what that try did not deliver (``bus.broker``, "First try in the sender's
task"). On stop what is still in flight stays in the journal, and the next start resumes it.
"""

from __future__ import annotations

import importlib
import logging
import os
import secrets
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from cloudevents.core.base import BaseCloudEvent

from tekton_dag.bus import inprocess, routing
from tekton_dag.bus.broker import LocalBroker
from tekton_dag.bus.delivery import Destination
from tekton_dag.bus.inprocess import InProcessPublisher
from tekton_dag.bus.journal import JOURNAL_ENV, SYNC_ENV, Journal, Synchronous
from tekton_dag.bus.triggers import Topology, Trigger, compile_attributes
from tekton_dag.eventing import K_SINK_ENV
from tekton_dag.events import catalog, sealing
from tekton_dag.functions.lifecycle import Handler, Wiring
from tekton_dag.functions.serving import FUNCTIONS
from tekton_dag.kube import events as kube_events

if TYPE_CHECKING:  # imported by name in setup, like the other handlers
    from tekton_dag.functions.webhook_ingest import WebhookIngest

log = logging.getLogger("tekton_dag.allinone")

BROKER_URL = "http://broker.tekton-dag.internal/tekton-dag/tekton-dag"
DEAD_LETTER_ENV = "TEKTON_DAG_DEAD_LETTER_FILE"
DEFAULT_DEAD_LETTER_FILE = "/tmp/tekton-dag/dead-letters.jsonl"
DEFAULT_JOURNAL = "/tmp/tekton-dag/broker-journal.sqlite3"
PUBLIC = "webhook-ingest"


def internal_url(function: str) -> str:
    return f"http://{function}.tekton-dag.internal/"


# The subscribers a webhook passes on its way to its PipelineRun: short, local work (a configuration
# lookup; two Kubernetes writes), so the bus tries their deliveries in the webhook's own task before
# journalling anything (bus.broker, "First try in the sender's task").
FIRST_TRY_HERE = frozenset(internal_url(name) for name in ("resolver", "run-creator"))


def own_event_key(journal: Path) -> str:
    """With no event key configured, the all-in-one seals with one of its own, kept beside its
    journal (owner-only): the bus has no outside address, and events journalled before a restart
    must still pass the seal check after it."""
    path = journal.with_name(journal.name + ".event-key")
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = ""
    if len(key) < sealing.MIN_KEY_LENGTH:
        key = secrets.token_hex(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(key)
        log.warning("no event key configured (%s): sealing with this instance's own, in %s", sealing.KEY_FILE_ENV, path)
    return key


def topology() -> Topology:
    """The Triggers of ``knative/triggers.yaml``, built from the routing table they are checked against."""
    # ``exact_type`` as load_topology sets it for such a filter: the bus then tests only the
    # Triggers of an event's own type (two or so), not all of them, per accepted event.
    triggers = tuple(
        Trigger(name, "tekton-dag", Destination("Service", function),
                compile_attributes(routing.filter_attributes(function, event_type), name),
                delivery=routing.TRIGGER_DELIVERY.get(function), exact_type=event_type)
        for name, (event_type, function) in routing.routes().items()
    )
    return Topology("tekton-dag", routing.DELIVERY, triggers)


class AllInOne(Handler):
    """A func-python ``http`` function whose public face is webhook-ingest."""

    publishes = False  # its handlers publish, to the bus

    def __init__(self, wiring: Wiring | None = None) -> None:
        super().__init__(wiring)
        self.broker: LocalBroker | None = None
        self.instances: dict[str, Handler] = {}

    def setup(self) -> None:
        """Build the bus and start the five handlers on it, sharing this process's configuration."""
        dead_letters = Path(self.env.get(DEAD_LETTER_ENV) or DEFAULT_DEAD_LETTER_FILE)
        sync = cast(Synchronous, self.env.get(SYNC_ENV, "NORMAL").upper())
        journal = Journal(Path(self.env.get(JOURNAL_ENV) or DEFAULT_JOURNAL), sync)
        key = ",".join(self.keys.current()) or own_event_key(journal.path)
        self.keys = sealing.EventKeys({sealing.KEY_ENV: key})
        self.broker = LocalBroker(topology(), {name: internal_url(name) for name in FUNCTIONS}, dead_letters,
                                  keys=self.keys, journal=journal, first_try_here=FIRST_TRY_HERE)
        recovered = self.broker.recover()  # JournalError (named file, reason) fails the start
        # The handlers publish into the bus and the bus calls them, in process (bus.inprocess).
        wiring = Wiring(publisher=InProcessPublisher(self.broker), store=self.wiring.store, configs=self.configs,
                        github=self.wiring.github)
        env = {**self.env, K_SINK_ENV: BROKER_URL, sealing.KEY_ENV: key}
        for name, spec in FUNCTIONS.items():
            instance: Handler = importlib.import_module(spec.module).new(wiring)
            instance.start(env)
            self.instances[name] = instance
            if name != PUBLIC:  # webhook-ingest takes GitHub's webhooks; the bus never calls it
                handler = cast(inprocess.CloudEventHandler, instance)
                self.broker.direct[internal_url(name)] = inprocess.subscriber(handler, name)
        self.broker.start()  # resumes what the journal held
        if recovered:
            log.warning("resuming %d undelivered deliveries from %s", recovered, journal.path)
        self.broker.dead_letter_listeners.append(self._report_dead_letter)

    def _report_dead_letter(self, event: BaseCloudEvent, subscriber: str, reason: str) -> None:
        """A Warning Event in the team's namespace for an event the bus gave up on, through
        run-creator's recorder (the one with the Events permission); regarding the PipelineRun
        when the event names one (run-creator's replies), else the team's configuration."""
        events = getattr(self.instances.get("run-creator"), "events", None)
        config = self.configs.current() if self.configs else None
        team = config.team(str(event.get_extension(catalog.EXT_TEAM) or "")) if config else None
        if events is None or team is None:
            return
        subject = str(event.get_subject() or "")
        named_run = subject and str(event.get_source()) == catalog.SOURCE_RUN_CREATOR
        namespace = team.namespace
        regarding = kube_events.pipelinerun_ref(namespace, subject) if named_run else kube_events.config_ref(namespace)
        note = (
            f"{event.get_type()} {event.get_id()} dead-lettered: {subscriber.rstrip('/').rsplit('/', 1)[-1]} "
            f"did not take it ({reason}); replay it from {self.broker.dead_letter_file if self.broker else 'the sink'}"
        )
        events.emit(regarding, "DeadLettered", "Deliver", note, "Warning")

    def teardown(self) -> list[Coroutine[Any, Any, None]]:
        if self.broker is not None:
            lost = self.broker.abandon()
            if lost:
                log.warning(
                    "stopped with %d deliveries in flight: dead-lettered to %s", lost, self.broker.dead_letter_file
                )
        for instance in self.instances.values():
            instance.stop()
        return []

    def problem(self) -> str:
        if self.broker is None:
            return "the bus is not running"
        return "; ".join(
            f"{name}: {message}"
            for name, (ok, message) in ((name, i.ready()) for name, i in self.instances.items())
            if not ok
        )

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await cast("WebhookIngest", self.instances[PUBLIC]).handle(scope, receive, send)


def new(wiring: Wiring | None = None) -> AllInOne:
    """func-python's factory for the root ``func.yaml``."""
    return AllInOne(wiring)
