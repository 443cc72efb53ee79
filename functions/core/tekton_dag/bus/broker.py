"""The local Broker: Knative Broker semantics over real HTTP, driven by ``knative/`` Triggers.

Ingress (``POST`` to the MT broker's address ``/<namespace>/<broker>``) takes a CloudEvent in
binary or structured mode and answers 202 once it is queued, 400 when it is not a CloudEvent and
503 when the in-flight bound is reached (the sender retries, as with a busy Knative ingress).
Other methods and paths, and the headers, are answered as Knative's ingress does (``answer``).
CloudEvents 1.0 and 0.3 are taken, as cloudevents/sdk-go reads both, and each is delivered (and a
reply re-enters) in its own version, as sdk-go writes it (``eventing.wire.decode_event``).

Each Trigger whose filter matches gets its own delivery (``Prefer: reply``, binary mode):
- 2xx with a CloudEvent body: delivered; the reply re-enters the Broker with its TTL decremented.
- 2xx with an empty body: delivered, nothing follows.
- 2xx with a body that is not a CloudEvent: a failed delivery (Knative's filter answers 502).
- network errors, 5xx, 404, 408, 409, 429: retried with the DeliverySpec's backoff.
- any other answer: final at once.
Every 2xx is read alike, 202 included (knative/eventing pkg/kncloudevents/event_dispatcher.go
``executeRequest`` checks only for a failure status; pkg/broker/filter/filter_handler.go
``writeResponse`` only the body).
After the last try the event goes to the dead-letter sink; without one (or when it fails too)
it is appended to a JSON-lines file and logged, so nothing is silently lost. ``knativebrokerttl``
guards against loops as Knative's does (``ingress_ttl``): 255 for a new event, one less at every
pass through the ingress, refused at 0 (a reply then fails the delivery that made it).

With a ``Journal`` (``tekton_dag.bus.journal``) every delivery is written to disk before the
ingress answers 202 (it awaits the commit; with ``FULL`` also the fsync, which a thread runs, so
the event loop keeps serving other requests and deliveries meanwhile), and marked delivered or
dead-lettered when it ends (marks are not waited for: a lost one means a redelivery, never a
loss); on start the Broker
resumes what an earlier process accepted and never finished (in order per ``partitionkey``, with
the attempts already spent). On ``close`` the ingress refuses new events, accepted ones get
``grace`` seconds to finish, and whatever is still pending stays in the journal for the next
start -- or, without a journal, is dead-lettered.

**First try in the sender's task** (``first_try_here``: in the all-in-one, the resolver and
run-creator, the in-process subscribers on a webhook's way to its PipelineRun; status-reporter
and bootstrap-batcher, which wait on GitHub's pacing and on registries, are left to the workers).
An event with one delivery, to such a subscriber, is tried before anything is written: in the
task that admitted it, so the sender's answer (the webhook's ack) waits for it, and a reply goes
on the same way. Only a first try that fails is journalled, then retried and
dead-lettered as any accepted event (its first attempt counted); one that fails for good is
dead-lettered at once. The guarantee is the same: when the ingress answers 202 the event has
been delivered or is on disk. What it saves is two journal commits and two queue hand-offs per
webhook on the way to its PipelineRun (docs/performance.md, twenty-third round). What changes:
an event that was never acknowledged (the process died while its first try ran) is not resumed
after a restart; its sender saw no 202 and still holds it (GitHub shows a failed delivery to
redeliver). A first try is given at most ``FIRST_TRY_S`` (the Trigger's timeout when shorter),
so a slow Kubernetes API cannot hold the ack past GitHub's 10 s; it is then retried from the journal.
After a first try to a subscriber fails and may be retried (an API outage, a timeout), events for it
are journalled first again until one of its deliveries succeeds (or ``FIRST_TRY_PAUSE_S`` passed):
an outage costs one ack the budget, not every ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import httpx
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.bus.deadletters import DeadLetters, Delivery, Outcome
from tekton_dag.bus.delivery import Destination, is_retryable
from tekton_dag.bus.inprocess import Subscriber, outcome_of
from tekton_dag.bus.journal import DEAD_LETTERED, DELIVERED, Journal, JournalError, NewDelivery, Row
from tekton_dag.bus.triggers import Topology, Trigger
from tekton_dag.eventing.posting import AiohttpPoster, HttpxPoster, Poster, PostError
from tekton_dag.eventing.publishing import network_client
from tekton_dag.eventing.wire import attribute_text, decode_event, without_ttl
from tekton_dag.events import codec
from tekton_dag.events.catalog import EXT_BROKER_TTL, EXT_PARTITION_KEY
from tekton_dag.events.sealing import SEALED_TYPES, EventKeys, SealError
from tekton_dag.observability import metrics

__all__ = ["Answer", "LocalBroker", "Observer", "UnresolvedDestination", "decode_event"]

# The longest the first tries in a sender's task may take, its event's and its replies' together
# (module docstring): well inside GitHub's 10 s for a webhook's answer, with room for the journal
# write that keeps a slower one.
FIRST_TRY_S = 5.0
# After a first try that may be retried: how long its subscriber's events go journal-first, unless a
# delivery to it succeeds sooner (module docstring).
FIRST_TRY_PAUSE_S = 10.0
# When the first tries of the sender's task must end (loop time), set by the outermost one.
_first_try_ends: contextvars.ContextVar[float | None] = contextvars.ContextVar("first_try_ends", default=None)

log = logging.getLogger("tekton_dag.broker")

# knativebrokerttl, Knative's loop guard. Its ingress gives an event without a usable one 255 and takes
# one off any other (knative/eventing cmd/broker/ingress/main.go MAX_TTL, pkg/broker/ttl.go
# TTLDefaulter), and answers 400 once that reaches 0 (pkg/broker/ingress/ingress_handler.go receive).
# The filter gives a reply its parent's TTL (pkg/broker/filter/filter_handler.go writeResponse), and
# the reply goes back through the ingress.
DEFAULT_TTL = 255
TTL_EXHAUSTED = 400
TTL_REASON = f"{EXT_BROKER_TTL} reached 0 (an event loop?)"
# What sdk-go reads as a number (v2/types/value.go ToInteger, ParseInteger: strconv.ParseFloat, truncated).
# re.ASCII: \d would take any Unicode digit (Arabic-Indic ten), which Go's strconv refuses and Python's float reads.
_TTL_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


# Knative's ingress sets ``Allow`` on every answer, and on OPTIONS the CloudEvents HTTP webhook's
# abuse-protection handshake (http-webhook.md section 4.1) allowing any origin at any rate
# (knative/eventing pkg/broker/ingress/ingress_handler.go ServeHTTP).
ALLOW: Mapping[str, str] = MappingProxyType({"Allow": "POST, OPTIONS"})
WEBHOOK_OPTIONS: Mapping[str, str] = MappingProxyType(
    {**ALLOW, "WebHook-Allowed-Origin": "*", "WebHook-Allowed-Rate": "*"})


class Answer(NamedTuple):
    """What the ingress answers one HTTP request: status, plain-text body, headers."""

    status: int
    body: bytes
    headers: Mapping[str, str] = MappingProxyType({})


def ingress_ttl(raw: Any) -> int:
    """The TTL Knative's ingress gives an event sent with ``knativebrokerttl`` ``raw`` (None: none):
    ``DEFAULT_TTL`` when there is none or it is no int32 to sdk-go, else one less, never below 0."""
    if raw is None or isinstance(raw, bool) or not _TTL_NUMBER.fullmatch(str(raw)):
        return DEFAULT_TTL
    value = float(str(raw))
    if not -(2**31) <= value <= 2**31 - 1:
        return DEFAULT_TTL
    return max(int(value) - 1, 0)


class UnresolvedDestination(ValueError):
    """A Trigger's subscriber names a Service for which no URL was given."""


Observer = Callable[[BaseCloudEvent], None]
# Told of each delivery that failed for good, after it went to the dead-letter sink or file:
# (the event, the subscriber's URL, why). The all-in-one turns it into a Kubernetes Event.
DeadLetterListener = Callable[[BaseCloudEvent, str, str], None]


class LocalBroker:
    """An ASGI app plus the delivery workers behind it; see the module docstring."""

    def __init__(
        self,
        topology: Topology,
        services: Mapping[str, str],
        dead_letter_file: Path,
        *,
        capacity: int = 1000,
        concurrency: int = 64,
        observers: tuple[Observer, ...] = (),
        keys: EventKeys | None = None,
        journal: Journal | None = None,
        resume_on_start: bool = True,
        close_grace: float = 10.0,
        direct: Mapping[str, Subscriber] | None = None,
        first_try_here: frozenset[str] = frozenset(),
    ):
        self.topology = topology
        self.services = dict(services)
        self.capacity = capacity
        self.concurrency = concurrency
        self.observers = list(observers)
        self.keys = keys  # None: no seal is checked at the ingress (only tests of delivery build one so)
        self._urls = {
            t.name: self.resolve(t.subscriber, f"Trigger {t.name} spec.subscriber") for t in topology.triggers
        }
        self._poster: Poster | None = None
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._inflight: set[Delivery] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._workers: list[asyncio.Task[None]] = []
        self._closing = False
        self.dead_letter_file = dead_letter_file
        self.dead_letters: DeadLetters | None = None
        self.journal = journal
        self._recovered: list[Row] | None = None  # read from the journal, not yet resumed
        self._resuming = 0  # resumed deliveries in flight (outside the ingress bound)
        self._admitting = 0  # events waiting for their journal commit (inside the ingress bound)
        self.close_grace = close_grace  # what a lifespan shutdown gives accepted deliveries
        self.resume_on_start = resume_on_start  # False: the owner calls resume() once subscribers are up
        self.stats = {"accepted": 0, "delivered": 0, "retried": 0, "dead_lettered": 0, "replies": 0, "ttl_dropped": 0,
                      "resumed": 0}
        self.dead_letter_listeners: list[DeadLetterListener] = []
        # Subscriber URL → in-process delivery (the all-in-one: ``bus.inprocess``), no HTTP.
        self.direct: dict[str, Subscriber] = dict(direct or {})
        # ``direct`` subscribers (URLs) an event's one delivery to is tried before it is journalled.
        self.first_try_here = first_try_here
        # Subscriber URL → loop time until which its first tries are paused (a retryable failure).
        self._first_try_paused: dict[str, float] = {}

    # -- wiring ---------------------------------------------------------------------------------
    def resolve(self, destination: Destination, where: str) -> str:
        """A Destination's URL: its Service ref through ``services`` (plus ``uri`` as a path), or its uri."""
        if destination.ref_name is None:
            return destination.uri or ""
        base = self.services.get(destination.ref_name)
        if base is None:
            raise UnresolvedDestination(
                f"{where}: no URL for {destination.ref_kind}/{destination.ref_name} "
                f"(known: {', '.join(sorted(self.services)) or 'none'})"
            )
        return base.rstrip("/") + (destination.uri or "/") if destination.uri else base

    def dead_letter_url(self, delivery: Delivery) -> str | None:
        sink = delivery.spec.dead_letter_sink
        if sink is None:
            return None
        try:
            return self.resolve(sink, "deadLetterSink")
        except UnresolvedDestination:
            return None  # not running locally: the file takes its place

    def recover(self) -> int:
        """Open the journal (``JournalError`` when it cannot be, e.g. another Broker holds it) and
        read what an earlier process left pending; ``start()`` resumes it. Returns how many."""
        if self.journal is None or self._recovered is not None:
            return len(self._recovered or ())
        self._recovered = self.journal.open()
        return len(self._recovered)

    def start(self, mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None) -> None:
        """Start the delivery workers (call inside the running loop) and resume the journal's
        pending deliveries. Deliveries go out through aiohttp's client (``eventing.posting``);
        ``mounts`` routes subscriber hosts to other httpx transports instead, e.g.
        ``httpx.ASGITransport`` for in-process ASGI subscribers."""
        if self._poster is not None:
            return
        self.recover()
        connections = self.concurrency * 2
        self._poster = (
            HttpxPoster(network_client(timeout=None, max_connections=connections, mounts=mounts), owned=True)
            if mounts
            else AiohttpPoster(max_connections=connections)
        )
        self.dead_letters = DeadLetters(self._poster, self.dead_letter_file)
        self._workers = [asyncio.get_running_loop().create_task(self._work()) for _ in range(self.concurrency)]
        if self.resume_on_start:
            self.resume()

    def resume(self) -> None:
        """Start delivering what ``recover()`` read from the journal (once; after ``start()``)."""
        if self._recovered and self._poster is not None:
            self._workers.append(asyncio.get_running_loop().create_task(self._resume(self._recovered)))
            self._recovered = []

    def abandon(self, reason: str = "broker stopped before the delivery finished") -> int:
        """Stop at once (no await possible, e.g. a sync ``stop()`` hook): dead-letter everything
        still in flight to the file and cancel the workers. Returns how many were dead-lettered."""
        self._closing = True
        for worker in self._workers:
            worker.cancel()
        pending = list(self._inflight)
        if self.journal is not None:
            self._keep_journalled(pending)
            return 0
        if self.dead_letters is not None:
            for delivery in pending:
                self.dead_letters.write(delivery, reason)
                self.stats["dead_lettered"] += 1
                metrics.BROKER_DEAD_LETTERED.labels(delivery.trigger.name).inc()
                self._done(delivery)
        return len(pending)

    def _keep_journalled(self, pending: list[Delivery]) -> None:
        """Stopping with a journal: what is unfinished stays there for the next start."""
        assert self.journal is not None
        kept = [d for d in pending if d.journal_id is not None]
        if kept:
            log.warning("%d deliveries unfinished at stop stay in the journal %s; the next start resumes them",
                        len(kept), self.journal.path)
        if len(kept) < len(pending):  # first tries in a sender's task: their senders got no 202
            log.warning("%d first tries unfinished at stop were never acknowledged: their senders keep them",
                        len(pending) - len(kept))
        for delivery in pending:
            self._done(delivery)
        self.journal.close()

    async def close(self, grace: float = 10.0) -> None:
        """Refuse new events, let accepted ones finish for ``grace`` s; the rest stays in the
        journal (without one, it is dead-lettered)."""
        self._closing = True
        if self._poster is None:
            if self.journal is not None:
                self.journal.close()  # opened by recover(), never started
            return
        with contextlib.suppress(TimeoutError):  # the rest is dead-lettered below
            await asyncio.wait_for(self._idle.wait(), grace)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        assert self.dead_letters is not None
        if self.journal is not None:
            self._keep_journalled(list(self._inflight))
        for delivery in list(self._inflight):
            self.dead_letters.write(delivery, "broker shut down before the delivery finished")
            self.stats["dead_lettered"] += 1
            metrics.BROKER_DEAD_LETTERED.labels(delivery.trigger.name).inc()
            self._done(delivery)
        await self._poster.aclose()
        self._poster = None

    async def drained(self, timeout: float) -> bool:
        """Wait until nothing is in flight; False if that took longer than ``timeout``."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    # -- ingress --------------------------------------------------------------------------------
    async def admit(
        self, event: BaseCloudEvent, *, is_reply: bool = False, completes: Delivery | None = None,
        ttl: int | None = None,
    ) -> int:
        """Queue deliveries of ``event`` to every matching Trigger; returns HTTP-like status.
        With a journal they are committed to it first (503 if that fails: the sender retries).

        Replies bypass the bound: each delivery yields at most one, so they cannot run away.
        ``completes`` is the delivery whose reply this is: the journal marks it delivered in the
        same write that stores the reply's deliveries. ``ttl`` (a reply's: its parent's, as the
        filter sets it) takes the place of the event's own ``knativebrokerttl``; either loses one
        here, and at 0 the event is refused (``TTL_EXHAUSTED``), as at Knative's ingress.
        """
        if not is_reply and (self._closing or len(self._inflight) + self._admitting - self._resuming >= self.capacity):
            return 503
        ttl = ingress_ttl(event.get_attributes().get(EXT_BROKER_TTL) if ttl is None else ttl)
        if ttl <= 0:
            self.stats["ttl_dropped"] += 1
            log.warning("refused %s %s: %s", event.get_type(), event.get_id(), TTL_REASON)
            return TTL_EXHAUSTED
        attributes = {k: attribute_text(v) for k, v in event.get_attributes().items()}
        plain = without_ttl(event)
        deliveries = [
            Delivery(plain, t, self._urls[t.name], t.delivery_with(self.topology.delivery), ttl)
            for t in self.topology.candidates(attributes.get("type", ""))
            if t.matches(attributes)
        ]
        # Nothing to keep for an event no Trigger matches (Tekton's ``unknown``, a team's outcomes
        # that no status-reporter Trigger takes). If it is a reply, its parent is done just as if
        # the subscriber had answered empty: a mark, which rides along with the next commit. A mark
        # lost in a crash leaves the parent pending, delivered again after a restart (at least
        # once, as for an empty answer); waiting for a commit of its own cost a transaction per
        # webhook (run-creator's outcomes of teams without checks).
        if self._tried_here(deliveries, completes):
            return await self._deliver_here(plain, attributes, deliveries[0])
        if deliveries and self.journal is not None:
            if not await self._journal(plain, attributes, deliveries, completes):
                return 503
        elif completes is not None:
            self._finish(completes, DELIVERED)
        self._accepted(event)
        for delivery in deliveries:
            self._begun(delivery)
            self._queue.put_nowait(delivery)
        return 202

    def _accepted(self, event: BaseCloudEvent) -> None:
        self.stats["accepted"] += 1
        metrics.BROKER_ACCEPTED.inc()
        for observer in self.observers:
            try:
                observer(event)
            except Exception:  # a watcher must never cost an event
                log.exception("observer %r failed on %s", observer, event.get_id())

    def _tried_here(self, deliveries: list[Delivery], completes: Delivery | None) -> bool:
        """Whether the first try of ``deliveries`` runs in the sender's task (module docstring): one
        delivery, to an in-process subscriber, of an event that is new or the reply of a delivery
        that was tried so (a journalled delivery's reply is journalled with the parent's mark)."""
        journalled_parent = completes is not None and completes.journal_id is not None
        if len(deliveries) != 1 or journalled_parent or self._closing:
            return False
        url = deliveries[0].url
        if url not in self.first_try_here or url not in self.direct:
            return False
        paused = self._first_try_paused.get(url)
        return paused is None or asyncio.get_running_loop().time() >= paused

    async def _deliver_here(self, event: BaseCloudEvent, attributes: Mapping[str, str], delivery: Delivery) -> int:
        """The first try of ``delivery`` now, in this task; journalled and queued only if it failed.
        202 once it is delivered (with its reply admitted), dead-lettered, or on disk; 503 when the
        journal refused a failed one (the sender retries, as for any event the journal refuses)."""
        self._accepted(event)
        self._begun(delivery)
        queued = False
        now = asyncio.get_running_loop().time()
        ends = _first_try_ends.get()
        outermost = _first_try_ends.set(now + FIRST_TRY_S) if ends is None else None
        left = FIRST_TRY_S if ends is None else ends - now
        try:
            if left > 0:  # else the task's time went to earlier tries: this one goes to the workers
                delivery.attempts = 1
                outcome = await self._try(delivery, min(delivery.spec.timeout_s, left))
                if outcome.ok:
                    self._delivered(delivery)
                    return 202
                log.info("first try of %s %s to %s failed (%s); the workers go on", event.get_type(), event.get_id(),
                         delivery.url, outcome.detail)
                if outcome.retryable:  # its next events go journal-first until a delivery to it succeeds
                    self._first_try_paused[delivery.url] = asyncio.get_running_loop().time() + FIRST_TRY_PAUSE_S
                if not outcome.retryable or delivery.spec.attempts() == 1:
                    try:
                        await self._dead_letter(delivery, outcome)
                        return 202
                    except Exception:  # as _deliver_or_keep: kept, and the workers dead-letter it again
                        log.exception("dead-lettering %s %s failed; it is kept in the journal", event.get_type(),
                                      event.get_id())
            if self.journal is not None and not await self._journal(event, attributes, [delivery], None):
                return 503
            queued = True
            self._queue.put_nowait(delivery)  # the worker goes on from attempt 2, after its backoff
            return 202
        finally:
            if outermost is not None:
                _first_try_ends.reset(outermost)
            if not queued:
                self._done(delivery)

    async def _journal(
        self, event: BaseCloudEvent, attributes: Mapping[str, str], deliveries: list[Delivery],
        completes: Delivery | None,
    ) -> bool:
        """Write ``deliveries`` (and ``completes``' end) to the journal and wait for the commit,
        without holding the event loop; False if that failed."""
        assert self.journal is not None
        body = to_structured_event(event).body
        key = attributes.get(EXT_PARTITION_KEY, "")
        self._admitting += 1
        try:
            committed = self.journal.submit(
                [NewDelivery(d.trigger.name, key, d.ttl, body, d.attempts) for d in deliveries],
                completes.journal_id if completes is not None else None,
            )
            ids = committed.result() if committed.done() else await asyncio.wrap_future(committed)
        except JournalError as exc:
            log.error("not accepted %s %s: %s", event.get_type(), event.get_id(), exc)
            return False
        finally:
            self._admitting -= 1
        for delivery, journal_id in zip(deliveries, ids, strict=False):
            delivery.journal_id = journal_id
        return True

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The ingress as an ASGI app (with the lifespan that starts and closes the Broker)."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _read_body(receive) if scope["method"] == "POST" else b""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        answer = await self.answer(scope["method"], _request_target(scope), headers, body)
        await _respond(send, answer)

    async def answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """The ingress's answer to one HTTP request, whichever server carries it (ASGI above,
        aiohttp's in ``devchain.hosting.serve_broker``). ``target`` is the request target as sent,
        query string included and not percent-decoded (Go's ``Request.RequestURI``, which
        Knative's ingress reads the Broker from)."""
        if method == "GET" and target.partition("?")[0] in ("/healthz", "/readyz"):
            return Answer(200, b"ok")
        asked = target.removesuffix("/")
        refused = self._refused_request(method, target, asked)
        if refused is not None:
            return refused
        try:
            event = decode_event(headers, body)
        except ValueError as exc:
            return Answer(400, str(exc).encode()[:500], ALLOW)
        # Only now the Broker named by the path: Knative's ingress looks it up after reading the
        # event, so a request that is no event is 400 even at another Broker's address.
        if asked != self.topology.ingress_path:
            return Answer(404, f"no such Broker: this one is {self.topology.ingress_path}".encode(), ALLOW)
        status, reason = await self.ingest(event)
        return Answer(status, reason.encode(), ALLOW)

    def _refused_request(self, method: str, target: str, asked: str) -> Answer | None:
        """Knative's ingress answer to a request it reads no event from (knative/eventing
        pkg/broker/ingress/ingress_handler.go ``ServeHTTP``): OPTIONS 200 with the CloudEvents
        webhook handshake's headers, another method 405, ``/`` 404, a target that is not
        ``/<namespace>/<broker>`` 400 (a query string is part of it: ``?`` and what follows end up
        in the Broker's name, which then names no Broker), so a sink with a wrong path fails here
        as it would in a cluster. Every answer carries ``Allow`` (``ALLOW``)."""
        if method == "OPTIONS":
            return Answer(200, b"", WEBHOOK_OPTIONS)
        if method != "POST":
            return Answer(405, b"POST CloudEvents here", ALLOW)
        if asked == self.topology.ingress_path:  # every event the chain sends: one comparison
            return None
        address = self.topology.ingress_path
        if target == "/":
            return Answer(404, f"no Broker at /: POST to {address}".encode(), ALLOW)
        if len(asked.split("/")) != 3:
            return Answer(400, f"malformed path: the Broker's address is /<namespace>/<broker>, here {address}"
                          .encode(), ALLOW)
        return None  # three segments naming another Broker: 404 once the event is read (answer)

    async def ingest(self, event: BaseCloudEvent) -> tuple[int, str]:
        """The ingress's decision on a decoded event, HTTP or in-process: (status, reason)."""
        refused = self._unsealed(event)
        if refused is not None:
            return refused.status, refused.reason
        status = await self.admit(event)
        return status, {202: "", TTL_EXHAUSTED: TTL_REASON}.get(status, "broker busy or shutting down; retry")

    def _unsealed(self, event: BaseCloudEvent) -> SealError | None:
        """Why the ingress refuses ``event``: an event that makes things happen without its team's
        seal (as Knative's EventPolicy refuses unauthorised senders with 403), or undecodable data."""
        if self.keys is None or event.get_type() not in SEALED_TYPES:
            return None
        try:
            self.keys.check(event, codec.data(event))
        except SealError as exc:
            log.warning("ingress refused %s %s: %s", event.get_type(), event.get_id(), exc.reason)
            return exc
        except codec.EventDecodeError as exc:
            return SealError(400, str(exc))
        return None

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close(self.close_grace)
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- delivery -------------------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            await self._deliver_or_keep(delivery)
            self._done(delivery)

    async def _deliver_or_keep(self, delivery: Delivery) -> None:
        """``_deliver``, surviving whatever it raises (a dead-letter file that cannot be written):
        the worker goes on with the next delivery, and this one stays pending in the journal,
        delivered again after a restart (without a journal it is lost, and the log says so)."""
        try:
            await self._deliver(delivery)
        except Exception:
            kept = "it stays in the journal for the next start" if delivery.journal_id is not None else "it is lost"
            log.exception("delivering %s %s to %s failed; %s", delivery.event.get_type(), delivery.event.get_id(),
                          delivery.url or delivery.trigger.name, kept)

    async def _resume(self, rows: list[Row]) -> None:
        """Deliver what the journal held at start: one partition key's deliveries one after the
        other, in the order they were accepted; different keys, and events without one, side by side."""
        chains: dict[str, list[Delivery]] = defaultdict(list)
        for row in rows:
            delivery = self._resumed(row)
            if delivery is not None:
                # An event without a partition key (Tekton's) is ordered after no other: a chain of
                # its own, so one slow subscriber does not hold up every other such event.
                chains[row.partition_key or f"row {row.id}"].append(delivery)
                self._begun(delivery)
                self._resuming += 1
        self.stats["resumed"] += sum(len(c) for c in chains.values())
        if chains:
            log.warning(
                "resuming %d undelivered deliveries from the journal %s",
                sum(len(c) for c in chains.values()),
                self.journal.path if self.journal else "",
            )
        lanes = asyncio.Semaphore(self.concurrency)

        async def in_order(chain: list[Delivery]) -> None:
            async with lanes:
                for delivery in chain:
                    await self._deliver_or_keep(delivery)
                    self._done(delivery)

        await asyncio.gather(*(in_order(c) for c in chains.values()))

    def _resumed(self, row: Row) -> Delivery | None:
        """A delivery read back from the journal; one whose Trigger is gone is dead-lettered."""
        try:
            event = decode_event({"content-type": "application/cloudevents+json"}, row.event)
        except ValueError as exc:
            log.error("journal row %d is not a CloudEvent (%s); dropped", row.id, exc)
            self._finish_row(row.id, DEAD_LETTERED)
            return None
        trigger = next((t for t in self.topology.triggers if t.name == row.trigger), None)
        if trigger is None:
            gone = Trigger(row.trigger, self.topology.broker, Destination(), lambda _: False)
            delivery = Delivery(event, gone, "", self.topology.delivery, row.ttl, row.attempts, row.id, True)
            assert self.dead_letters is not None
            try:
                self.dead_letters.write(delivery, f"Trigger {row.trigger} no longer exists")
            except OSError as exc:  # kept for the next start rather than stop resuming the others
                log.error("journal row %d (Trigger %s no longer exists) could not be dead-lettered: %s",
                          row.id, row.trigger, exc)
                return None
            self.stats["dead_lettered"] += 1
            self._finish_row(row.id, DEAD_LETTERED)
            return None
        spec = trigger.delivery_with(self.topology.delivery)
        return Delivery(event, trigger, self._urls[trigger.name], spec, row.ttl, row.attempts, row.id, True)

    def _begun(self, delivery: Delivery) -> None:
        """``delivery`` is in flight (until ``_done``): the Broker is not idle."""
        self._inflight.add(delivery)
        self._idle.clear()

    def _done(self, delivery: Delivery) -> None:
        if delivery in self._inflight and delivery.resumed:
            self._resuming -= 1
        self._inflight.discard(delivery)
        if not self._inflight:
            self._idle.set()

    def _finish(self, delivery: Delivery, state: int) -> None:
        if delivery.journal_id is not None:
            self._finish_row(delivery.journal_id, state)

    def _finish_row(self, journal_id: int, state: int) -> None:
        if self.journal is None:
            return
        try:
            self.journal.finish(journal_id, state)
        except JournalError as exc:  # it stays pending: delivered again after a restart, never lost
            log.error("%s", exc)

    async def _deliver(self, delivery: Delivery) -> None:
        spec = delivery.spec
        outcome = Outcome(ok=False, detail=f"all {spec.attempts()} attempts were spent before a restart")
        first = delivery.attempts + 1
        for attempt in range(first, spec.attempts() + 1):
            # A resumed delivery's first try goes at once: its backoff passed while we were down.
            if attempt > 1 and not (delivery.resumed and attempt == first):
                self.stats["retried"] += 1
                metrics.BROKER_RETRIES.labels(delivery.trigger.name).inc()
                await asyncio.sleep(spec.backoff(attempt - 2))  # attempt 2 is the first retry: index 0
            delivery.attempts = attempt
            outcome = await self._try(delivery, delivery.spec.timeout_s)
            if outcome.ok or not outcome.retryable:
                break
            log.info(
                "delivery of %s to %s failed (%s), try %d of %d",
                delivery.event.get_id(),
                delivery.url,
                outcome.detail,
                attempt,
                spec.attempts(),
            )
            if self.journal is not None and delivery.journal_id is not None and attempt < spec.attempts():
                try:
                    self.journal.attempted(delivery.journal_id, attempt)
                except JournalError as exc:
                    log.error("%s", exc)
        if outcome.ok:
            self._delivered(delivery)
            if outcome.reply is None:
                self._finish(delivery, DELIVERED)  # (a reply's admission ended it above)
            return
        await self._dead_letter(delivery, outcome)

    async def _try(self, delivery: Delivery, timeout: float) -> Outcome:
        """One attempt, with its reply admitted: a reply refused for its TTL fails the delivery for
        good, one the journal refused fails it for another try."""
        outcome = await self._attempt(delivery, timeout)
        status = 202 if outcome.reply is None else await self._reenter(outcome.reply, delivery.ttl, delivery)
        if status == TTL_EXHAUSTED:
            # Knative's dispatcher cannot forward the reply (the ingress answers 400, not retried):
            # the delivery fails for good and its event is dead-lettered.
            assert outcome.reply is not None
            return Outcome(ok=False, status=status, detail=f"its reply {outcome.reply.get_id()} was refused: "
                           f"{TTL_REASON}")
        if status != 202:
            # A reply has no sender to answer 503 to: the delivery that made it tries again.
            assert outcome.reply is not None
            return Outcome(ok=False, retryable=True, status=outcome.status,
                           detail=f"its reply {outcome.reply.get_id()} could not be journalled")
        return outcome

    def _delivered(self, delivery: Delivery) -> None:
        self._first_try_paused.pop(delivery.url, None)
        self.stats["delivered"] += 1
        metrics.BROKER_DELIVERED.labels(delivery.trigger.name).inc()

    async def _dead_letter(self, delivery: Delivery, outcome: Outcome) -> None:
        self.stats["dead_lettered"] += 1
        metrics.BROKER_DEAD_LETTERED.labels(delivery.trigger.name).inc()
        assert self.dead_letters is not None
        await self.dead_letters.send(delivery, self.dead_letter_url(delivery), outcome)
        for listener in self.dead_letter_listeners:
            try:
                listener(delivery.event, delivery.url, f"{outcome.detail} after {delivery.attempts} tries")
            except Exception:  # a listener must not lose the next delivery
                log.exception("dead-letter listener %r failed on %s", listener, delivery.event.get_id())
        self._finish(delivery, DEAD_LETTERED)

    async def _reenter(self, reply: BaseCloudEvent, ttl: int, parent: Delivery) -> int:
        """Admit ``reply`` (with its parent's ``ttl``) as a new event that ends ``parent``: 202, or
        ``TTL_EXHAUSTED``, or another status when the journal refused it (the parent is still
        pending: delivered again, now or after a restart)."""
        self.stats["replies"] += 1
        status = await self.admit(reply, is_reply=True, completes=parent, ttl=ttl)
        if status not in (202, TTL_EXHAUSTED):
            log.error("reply %s %s to %s could not be journalled", reply.get_type(), reply.get_id(), parent.url)
        return status

    async def _attempt(self, delivery: Delivery, timeout: float) -> Outcome:
        direct = self.direct.get(delivery.url)
        if direct is not None:
            # Only the HTTP ingress takes a 0.3 event, and the all-in-one (in-process subscribers) has none.
            if not isinstance(delivery.event, CloudEvent):
                return Outcome(ok=False, detail=f"in-process subscribers take CloudEvents 1.0 only, not "
                               f"{delivery.event.get_specversion()}")
            status, answered, text = await direct(delivery.event, timeout)
            return outcome_of(status, answered, text, delivery.url)
        assert self._poster is not None
        message = to_binary_event(delivery.event)
        headers = {**message.headers, "prefer": "reply"}
        try:
            answer = await self._poster.post(delivery.url, headers, message.body, timeout)
        except PostError as exc:
            return Outcome(ok=False, retryable=True, detail=f"{delivery.url} unreachable: {exc}")
        status = answer.status
        if not 200 <= status < 300:
            return Outcome(
                ok=False,
                retryable=is_retryable(status),
                status=status,
                detail=f"{delivery.url} answered {status}: {answer.text[:200]}",
                body=answer.body,
            )
        if not answer.body:  # any 2xx alike, 202 included: Knative looks only at the body (module docstring)
            return Outcome(ok=True, status=status)
        try:
            reply = decode_event(answer.headers, answer.body)
        except ValueError:
            # Knative's filter turns a non-CloudEvent reply body into an empty 502, which is retried
            # and leaves a dead letter without error extensions (deadletters.error_extensions).
            return Outcome(
                ok=False, retryable=True, status=502, detail=f"{delivery.url} replied with a non-CloudEvent body",
                error_info=False,
            )
        return Outcome(ok=True, status=status, reply=reply)


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _request_target(scope: Mapping[str, Any]) -> str:
    """Go's ``RequestURI`` from an ASGI scope: the raw path and the query string, as sent. (A bare
    ``?`` with nothing after it is lost: ASGI passes an empty query string for it and for none.)"""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string") or b""
    return (raw + b"?" + query if query else raw).decode("latin-1")


async def _respond(send: Any, answer: Answer) -> None:
    headers = [(b"content-type", b"text/plain"), *((k.encode(), v.encode()) for k, v in answer.headers.items())]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
