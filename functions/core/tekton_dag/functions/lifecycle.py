"""The lifecycle every function handler shares, and the one ``new()`` signature.

func-python calls ``start(cfg)`` once before serving (on the server's event loop, ``cfg`` a copy
of the environment), ``alive()`` and ``ready()`` for the probes, and ``stop()`` at shutdown.
``Handler`` does what is common to all of them there -- quiet httpx's per-request log lines, read
the configuration (``ConfigSource``: the last good one stays served), make the publisher to the
Broker at ``K_SINK``, close the process's Kubernetes client (``kube.shared.PROCESS``) at stop -- and
asks its subclass for the rest through ``setup``, ``problem`` and ``teardown``. It also starts the
process's metrics listener when ``METRICS_PORT`` is set (``observability.metrics``: the cloudevent
functions have no other way to answer ``GET /metrics``), in the background half a second after
start, when the function is ready (``tekton_dag.warming``).

``stop()`` cannot await (func-python calls it without awaiting), so the closes it starts run as
tasks; ``closed()`` waits for them, bounded. The server func-python starts (``limits.install``,
granian or hypercorn) calls it once it has stopped, before the loop ends and would cancel them.

What a handler talks to comes from the environment unless the caller wires it (``Wiring``): the
all-in-one function hands every handler its in-process bus, tests hand run-creator a store. So
every factory is ``new(wiring=None)``, and the all-in-one needs no per-function branches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from cloudevents.core.v1.event import CloudEvent

from tekton_dag import warming
from tekton_dag.eventing import K_SINK_ENV
from tekton_dag.eventing.forwarding import TeamForwarder
from tekton_dag.eventing.publishing import EventSink, Publisher
from tekton_dag.events import codec, sealing
from tekton_dag.events.errors import RequestError
from tekton_dag.functions import deferred
from tekton_dag.functions.configs import ConfigSource
from tekton_dag.github.port import GitHub
from tekton_dag.kube import shared as kube_shared
from tekton_dag.kube.stores import RunStore
from tekton_dag.observability import logs, metrics

if TYPE_CHECKING:
    import httpx  # a Wiring's broker client (tests); functions start without httpx

NOT_STARTED = "not started"
CLOSE_WAIT_S = 2.0  # how long ``closed()`` waits for what ``stop()`` started closing
METRICS_DELAY_S = 0.5  # after the first readiness probes (tekton_dag.warming)
# An event that can never be handled as sent: bad data, undecodable, unsealed or forged (``refuse``).
REFUSED = (RequestError, codec.EventDecodeError, sealing.SealError)


# What the handlers' stop() started closing and has not finished (func-python calls stop() without
# awaiting anything; a loop that ends right after would cut these closes short).
_closing: set[asyncio.Task[None]] = set()


async def closed(timeout: float = CLOSE_WAIT_S) -> None:
    """Wait, at most ``timeout`` seconds, for what every handler's ``stop()`` started closing on
    this loop (clients' connections, the publisher): call it after the lifespan's shutdown."""
    loop = asyncio.get_running_loop()
    pending = [task for task in _closing if task.get_loop() is loop]
    if pending:
        await asyncio.wait(pending, timeout=timeout)


@dataclass(frozen=True)
class Wiring:
    """Collaborators given by the caller instead of made from the environment."""

    broker: httpx.AsyncClient | None = None  # the client that reaches ``K_SINK`` (tests: a local Broker)
    publisher: EventSink | None = None  # instead of HTTP to ``K_SINK``: the all-in-one's in-process bus
    store: RunStore | None = None  # run-creator's PipelineRun store (tests: the fake API's client)
    configs: ConfigSource | None = None  # the all-in-one loads the configuration once for all four
    forwarder: TeamForwarder | None = None  # where run-creator forwards other teams' Tekton events
    github: GitHub | None = None  # status-reporter's GitHub (default: the client its environment configures)


class Handler:
    """Base of the function handlers (module docstring); subclasses set ``publishes``."""

    publishes: ClassVar[bool] = True  # needs K_SINK to do its work
    seals: ClassVar[bool] = True  # makes or acts on sealed events: needs the team's event key
    configured: ClassVar[bool] = True  # reads the team configuration (the dead-letter sink does not)

    def __init__(self, wiring: Wiring | None = None) -> None:
        self.wiring = wiring or Wiring()
        self.env: dict[str, str] = {}
        self.configs: ConfigSource | None = None
        self.publisher: EventSink | None = None
        self.keys = sealing.EventKeys({})
        self._started = False

    def start(self, cfg: Mapping[str, str]) -> None:
        """Called once before serving, with a copy of the environment."""
        # httpx logs every request at INFO (func-python configures INFO); our own line per event says what matters.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logs.install()  # a value we were sent cannot start a log line of its own
        self.env = dict(cfg)
        # The metrics and /metrics on METRICS_PORT (once per process), after ready: prometheus_client
        # takes ~25 ms to import, and nothing reads a metric before a scrape (observability.metrics).
        # So are the modules tekton-dag serve left until first use (functions.deferred: dateutil's parser).
        env = self.env

        def warm_up() -> None:
            deferred.warm_up()
            metrics.warm_up(env)

        warming.in_background(warm_up, "metrics warm-up", METRICS_DELAY_S, freeze=False)
        self.keys = sealing.EventKeys(self.env)
        sink = self.env.get(K_SINK_ENV)
        if self.publishes and sink:
            self.publisher = self.wiring.publisher or Publisher(sink, client=self.wiring.broker)
        if self.configured:
            self.configs = self.wiring.configs or ConfigSource.from_env(self.env)
        self.setup()
        self._started = True

    def stop(self) -> None:
        """Called at shutdown: stop following the configuration, close what the handler opened."""
        if self.configs is not None and self.wiring.configs is None:
            self.configs.close()
        closing: list[Coroutine[Any, Any, None]] = [self.publisher.aclose()] if self.publisher else []
        closing += self.teardown()
        closing.append(kube_shared.PROCESS.aclose())  # the process's Kubernetes client, if it made one
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # stopped outside a loop (a test): nothing was opened in one either
            for coroutine in closing:
                coroutine.close()
            return
        for coroutine in closing:  # stop() cannot await: closed() does, in our servers and tests
            task = loop.create_task(coroutine)
            _closing.add(task)
            task.add_done_callback(_closing.discard)

    @staticmethod
    def closing_own(made: object, wired: object) -> list[Coroutine[Any, Any, None]]:
        """``[made.aclose()]`` for ``teardown`` when the handler made ``made`` itself; nothing when
        ``wired`` (what a caller injected instead) is set, since that is the caller's to close."""
        close = getattr(made, "aclose", None)
        return [close()] if close is not None and wired is None else []

    def alive(self) -> tuple[bool, str]:
        return True, "OK"

    def ready(self) -> tuple[bool, str]:
        """Not ready until started with a loaded configuration, a Broker address (when it
        publishes) and whatever the handler itself needs (``problem``)."""
        if not self._started or self.configs is None:
            return False, NOT_STARTED
        if self.configs.current() is None:
            return False, f"configuration not loaded: {self.configs.problem()}"
        if self.publishes and self.publisher is None:
            return False, f"Broker address unknown: {K_SINK_ENV} is not set"
        # With no team configured there is nothing to seal or check: a default install is Ready.
        if self.seals and not self.keys.current() and not self.configs.no_team():
            return False, sealing.KeyMissing().reason
        problem = self.problem()
        return (False, problem) if problem else (True, "OK")

    # --- hooks for subclasses --------------------------------------------------------------
    def setup(self) -> None:
        """Handler-specific start-up, after the configuration and the publisher exist."""

    def problem(self) -> str:
        """Why the handler cannot work although started ("" when it can)."""
        return ""

    def teardown(self) -> list[Coroutine[Any, Any, None]]:
        """Handler-specific shutdown; returns coroutines to close (run on the loop when there is one)."""
        return []


async def plain(send: Any, status: int, message: str = "") -> None:
    """A ``text/plain`` answer through func-python's ``send.http``."""
    await send.http({"type": "http.response.start", "status": status, "headers": [[b"content-type", b"text/plain"]]})
    await send.http({"type": "http.response.body", "body": message.encode()})


async def refuse(send: Any, event: CloudEvent, exc: Exception, log: logging.Logger) -> None:
    """The answer to an event refused for good (``REFUSED``): 400 naming its type and what is wrong;
    unsealed or forged (``SealError``), the seal's own status (401/403, 503 without a key) and
    reason, logged on ``log`` as a warning. 4xx answers are never retried by the Broker."""
    if isinstance(exc, sealing.SealError):
        log.warning("event %s refused: %s", event.get_id(), exc.reason)
        await plain(send, exc.status, exc.reason)
    else:
        await plain(send, 400, f"{event.get_type()}: {exc}")
