"""Every Prometheus metric tekton-dag exports, in one place (docs/operations.md lists them).

Almost a leaf: it imports nothing of tekton-dag but ``syntax`` (below every layer), so the I/O
layers (``bus``, ``eventing``) and the adapters (``functions``) can record into it; the decision
layers never do (they stay pure, and the adapters count what they decide). Names follow Prometheus'
conventions: a ``tektondag_`` prefix, ``_total`` for counters, base units (``_seconds``). Label
values are bounded: ``team`` only ever holds a configured team (or ``UNCONFIGURED``), ``event`` a
GitHub event we know (or ``other``), ``trigger`` a Trigger of ``knative/``; nothing a caller sends
is used as a label value unchecked.

Exposition: every function, cloudevent ones included, serves ``/metrics`` on ``METRICS_PORT``
when it is set (``serve_from_env``; ``0`` or empty: no listener): func-python's cloudevent app
answers any request that is not a CloudEvent with 400, so a separate listener is the only clean
way there. webhook-ingest and the all-in-one also answer ``GET /metrics`` on their own, public,
port (``exposition()``), but only while no listener is configured (``listener_configured``): a
local ``tekton-dag serve``; in a cluster the chart sets ``METRICS_PORT`` and the public route
answers 404, so nothing of the process is readable from outside.

Made on first use: importing prometheus_client takes ~25 ms (its exposition pulls in
``http.server``, ``email`` and ``urllib``), a tenth of a function's start. So the metrics are
made, all together, when one is first read (``__getattr__``), by ``make()``, or by the functions'
background warm-up after ready (``functions.lifecycle``); updates made while a function starts go
through ``record``, which keeps them until then. Nothing can read a metric before it is made.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, cast

from tekton_dag.syntax import tcp_port

if TYPE_CHECKING:  # imported when the metrics are made (module docstring)
    from prometheus_client import Counter, Gauge, Histogram
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

METRICS_PORT_ENV: Final = "METRICS_PORT"
METRICS_ADDRESS_ENV: Final = "METRICS_ADDRESS"
UNCONFIGURED: Final = "unconfigured"  # the team label of a request naming no configured team
KNOWN_EVENTS: Final = frozenset({"pull_request", "push", "ping"})

log = logging.getLogger(__name__)
_making = threading.Lock()
_made = threading.Event()
_pending: list[Callable[[], object]] = []

# The metrics, made together on first use (module docstring); declared here for the type checker.
WEBHOOKS: Counter
SIGNATURE_FAILURES: Counter
EVENTS_PUBLISHED: Counter
BROKER_ACCEPTED: Counter
BROKER_DELIVERED: Counter
BROKER_RETRIES: Counter
BROKER_DEAD_LETTERED: Counter
DEAD_LETTERS_STORED: Counter
DEAD_LETTERS_DROPPED: Counter
DEAD_LETTERS_REPLAYED: Counter
RUNS: Counter
WEBHOOK_TO_RUN: Histogram
CHECK_REPORTS: Counter
COMMANDS: Counter
CONFIG_RELOADS: Counter
CONFIG_LAST_RELOAD_OK: Gauge
CONFIG_LOADED_AT: Gauge
GITHUB_CALLS: Counter

_LAZY: Final = frozenset(name for name in __annotations__ if name not in globals())  # declared, not set


def _make() -> None:
    """Make every metric (importing prometheus_client) and register the collectors, once; then
    apply the updates ``record`` kept. Callers hold ``_making``."""
    global WEBHOOKS, SIGNATURE_FAILURES, EVENTS_PUBLISHED, BROKER_ACCEPTED, BROKER_DELIVERED, BROKER_RETRIES
    global BROKER_DEAD_LETTERED, DEAD_LETTERS_STORED, DEAD_LETTERS_DROPPED, DEAD_LETTERS_REPLAYED, RUNS
    global WEBHOOK_TO_RUN, CHECK_REPORTS, COMMANDS, CONFIG_RELOADS, CONFIG_LAST_RELOAD_OK, CONFIG_LOADED_AT
    global GITHUB_CALLS
    from prometheus_client import REGISTRY, Counter, Gauge, Histogram

    # --- webhook-ingest ------------------------------------------------------------------------
    WEBHOOKS = Counter(
        "tektondag_webhooks", "GitHub deliveries answered, by event, outcome, reason (ignored ones) and HTTP code",
        ["event", "outcome", "reason", "code"],
    )
    SIGNATURE_FAILURES = Counter(
        "tektondag_webhook_signature_failures", "Deliveries refused because X-Hub-Signature-256 was missing or wrong",
    )

    # --- events on the wire --------------------------------------------------------------------
    EVENTS_PUBLISHED = Counter(
        "tektondag_events_published", "CloudEvents posted to the Broker (K_SINK), by type and result (ok, failed)",
        ["type", "result"],
    )
    BROKER_ACCEPTED = Counter("tektondag_broker_events_accepted", "Events the local Broker's ingress queued")
    BROKER_DELIVERED = Counter(
        "tektondag_broker_events_delivered", "Deliveries the local Broker completed, by Trigger", ["trigger"],
    )
    BROKER_RETRIES = Counter(
        "tektondag_broker_delivery_retries", "Delivery attempts the local Broker retried, by Trigger", ["trigger"],
    )
    BROKER_DEAD_LETTERED = Counter(
        "tektondag_broker_events_dead_lettered", "Deliveries the local Broker gave up on (dead letters), by Trigger",
        ["trigger"],
    )

    # --- the dead-letter sink (functions.dead_letters) -------------------------------------------
    DEAD_LETTERS_STORED = Counter("tektondag_dead_letters_stored", "Dead letters the sink stored (one ConfigMap each)")
    DEAD_LETTERS_DROPPED = Counter(
        "tektondag_dead_letters_dropped", "Dead letters deleted before they were replayed, to keep the store bounded",
    )
    DEAD_LETTERS_REPLAYED = Counter(
        "tektondag_dead_letters_replayed", "Dead letters the sink re-published to the Broker",
    )

    # --- run-creator ---------------------------------------------------------------------------
    RUNS = Counter(
        "tektondag_runs", "PipelineRun outcomes: created (admitted at once), queued, started (from the queue), "
        "failed (not created), cancelled", ["team", "outcome"],
    )
    WEBHOOK_TO_RUN = Histogram(
        "tektondag_webhook_to_run_created_seconds",
        "From webhook-ingest receiving a request to run-creator creating (or queueing) its PipelineRun",
        ["team"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
    )

    # --- status-reporter -----------------------------------------------------------------------
    CHECK_REPORTS = Counter(
        "tektondag_check_reports", "Events status-reporter handled, by team and result: created, updated (a GitHub "
        "call), unchanged (not a step forward), skipped (no check wanted), gone (no run), retried (GitHub or the API "
        "unavailable: the Broker retries), refused (GitHub refused for good: logged and acked)", ["team", "result"],
    )
    COMMANDS = Counter(
        "tektondag_commands", "PR commands status-reporter carried out, by team and result: published (its run or "
        "cancel requests), refused (not allowed or malformed: a reply), unconfigured (a team not configured here), "
        "failed (GitHub refused for good: logged and acked)", ["team", "result"],
    )

    # --- configuration -------------------------------------------------------------------------
    CONFIG_RELOADS = Counter(
        "tektondag_config_reloads", "Loads of a changed configuration tree, by result (ok, invalid)", ["result"],
    )
    CONFIG_LAST_RELOAD_OK = Gauge(
        "tektondag_config_last_reload_successful", "1 when the files on disk are the configuration served, 0 when "
        "the last load was invalid (the previous configuration keeps serving)",
    )
    CONFIG_LOADED_AT = Gauge(
        "tektondag_config_loaded_timestamp_seconds", "Unix time the configuration in use was loaded",
    )

    # --- GitHub's REST API (tekton_dag.github) -----------------------------------------------------
    GITHUB_CALLS = Counter(
        "tektondag_github_api_calls", "Calls to GitHub's REST API by operation and outcome: ok, retried (an attempt "
        "that will be repeated), rate_limited (an attempt GitHub rate-limited), error (refused: 4xx), gave_up "
        "(deadline reached or held off by a rate limit)", ["operation", "outcome"],
    )
    # tektondag_github_rate_limit_remaining: GITHUB_RATE_LIMITS, read at scrape time

    REGISTRY.register(cast("Collector", ADMISSION))  # Collectors by their methods
    REGISTRY.register(cast("Collector", GITHUB_RATE_LIMITS))
    _made.set()
    while _pending:
        _pending.pop(0)()


Admission = Mapping[str, tuple[int, int]]  # team -> (running, queued)


class AdmissionCollector:
    """Running and queued runs per team, read at scrape time from run-creator's ledgers: a gauge
    that costs nothing per request and is never stale by more than the ledger it reads. A
    prometheus_client ``Collector`` by its methods (registered when the metrics are made)."""

    def __init__(self) -> None:
        self._sources: list[Callable[[], Admission]] = []

    def add(self, source: Callable[[], Admission]) -> None:
        self._sources.append(source)

    def remove(self, source: Callable[[], Admission]) -> None:
        if source in self._sources:
            self._sources.remove(source)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families({})

    def collect(self) -> Iterable[GaugeMetricFamily]:
        merged: dict[str, tuple[int, int]] = {}
        for source in list(self._sources):
            merged.update(source())
        return self._families(merged)

    @staticmethod
    def _families(admission: Admission) -> list[GaugeMetricFamily]:
        from prometheus_client.core import GaugeMetricFamily

        running = GaugeMetricFamily("tektondag_admission_running_runs",
                                    "Runs holding one of the team's slots (ledger)", labels=["team"])
        queued = GaugeMetricFamily("tektondag_admission_queued_runs",
                                   "Runs waiting in the team's admission queue (ledger)", labels=["team"])
        for team, (holding, waiting) in sorted(admission.items()):
            running.add_metric([team], holding)
            queued.add_metric([team], waiting)
        return [running, queued]


ADMISSION = AdmissionCollector()

_FIRST_SWEEP: Final = 64  # credentials kept before the expired ones are first looked for


class RateLimitCollector:
    """``tektondag_github_rate_limit_remaining{installation}``: each credential's (App installation id,
    ``app``, ``token``) last ``x-ratelimit-remaining``, exported only until that answer's
    ``x-ratelimit-reset``, "the time at which the current rate limit window resets in UTC epoch
    seconds" (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
    #checking-the-status-of-your-rate-limit). After it GitHub counts afresh and the value says
    nothing: a credential not called in its last window drops out (Prometheus marks its series
    stale) instead of keeping its label, and a TektonDagGitHubRateLimitLow it may fire, for ever.
    What exporters do for things that come and go: families made at each scrape from what is
    current, not a labelled Gauge whose children are never removed (prometheus/client_python#277,
    "Some preprocessing should give you every label value to be exposed rather than adding and
    removing as you go"). Memory is bounded too, scraped or not: expired credentials are swept
    each time the number kept doubles. A prometheus_client ``Collector`` by its methods."""

    WINDOW_S: Final = 3600.0  # an answer without x-ratelimit-reset: GitHub's primary limits are per hour

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock  # Unix time, as x-ratelimit-reset is
        self._lock = threading.Lock()  # observed on the event loop, collected by the metrics listener's thread
        self._last: dict[str, tuple[int, float]] = {}  # installation -> (remaining, when its window resets)
        self._sweep_at = _FIRST_SWEEP

    def observe(self, installation: str, remaining: int, reset_at: float | None) -> None:
        """GitHub's answer for ``installation`` said ``remaining`` calls are left until ``reset_at``."""
        now = self._clock()
        with self._lock:
            self._last[installation] = (remaining, now + self.WINDOW_S if reset_at is None else reset_at)
            if len(self._last) >= self._sweep_at:
                self._forget_expired(now)

    def _forget_expired(self, now: float) -> None:
        for installation, (_, reset_at) in list(self._last.items()):
            if reset_at <= now:
                del self._last[installation]
        self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._last))

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [self._family({})]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        with self._lock:
            self._forget_expired(self._clock())
            current = {installation: remaining for installation, (remaining, _) in self._last.items()}
        return [self._family(current)]

    @staticmethod
    def _family(remaining: Mapping[str, int]) -> GaugeMetricFamily:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily("tektondag_github_rate_limit_remaining",
                                   "x-ratelimit-remaining of GitHub's last answer, by installation (the App "
                                   "installation id, 'app' for the App itself, 'token' for a plain token), until "
                                   "that answer's x-ratelimit-reset", labels=["installation"])
        for installation, left in sorted(remaining.items()):
            family.add_metric([installation], left)
        return family


GITHUB_RATE_LIMITS = RateLimitCollector()


def __getattr__(name: str) -> Any:
    """A metric, made with all the others on its first use (PEP 562: only names not yet set)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    make()
    return globals()[name]


def make() -> None:
    """Make the metrics now if nobody has (the functions' background warm-up)."""
    with _making:
        if not _made.is_set():
            _make()


def record(update: Callable[[], object]) -> None:
    """Run ``update`` (which sets metrics) now if the metrics are made, else when they are: nobody
    can read a metric before it is made, so a function's start need not import prometheus_client."""
    with _making:
        if not _made.is_set():
            _pending.append(update)
            return
    update()


def without_configuration() -> None:
    """For a process that reads no team configuration (the dead-letter sink): export no
    configuration gauges, whose default 0 would read as "the last load was invalid" and fire
    TektonDagConfigInvalid for a pod that has nothing to load."""
    def unregister() -> None:
        from prometheus_client import REGISTRY

        for gauge in configuration_gauges():
            with contextlib.suppress(KeyError):  # already done in this process
                REGISTRY.unregister(gauge)

    record(unregister)


def configuration_gauges() -> tuple[Gauge, ...]:
    """The gauges ``without_configuration`` leaves out (once the metrics are made)."""
    return CONFIG_LAST_RELOAD_OK, CONFIG_LOADED_AT


def event_label(name: str) -> str:
    """A GitHub event name as a label value: the header is the sender's, so only known names pass."""
    return name if name in KNOWN_EVENTS else "other"


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    make()
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


_served: dict[int, object] = {}
_serving = threading.Lock()


def warm_up(env: Mapping[str, str]) -> None:
    """Make the metrics and start the ``METRICS_PORT`` listener (``serve_from_env``): what a
    function leaves until after ready (``functions.lifecycle``)."""
    make()
    serve_from_env(env)


def listener_configured(env: Mapping[str, str]) -> bool:
    """Whether ``env`` asks for the ``METRICS_PORT`` listener: set, and not empty or ``0``. A value
    that is no port number counts as asked for (``serve_from_env`` logs why it did not start):
    webhook-ingest then keeps ``/metrics`` off its public port, closed."""
    return env.get(METRICS_PORT_ENV, "").strip() not in ("", "0")


def serve_from_env(env: Mapping[str, str]) -> int | None:
    """Serve ``/metrics`` on ``METRICS_PORT`` (once per process); the port, or None when unset or 0."""
    if not listener_configured(env):
        return None
    raw = env.get(METRICS_PORT_ENV, "").strip()
    port = tcp_port(raw)  # int() alone takes "+80", "8_0" and non-ASCII digits
    if port is None:
        log.warning("%s=%r is not a port number: metrics listener not started", METRICS_PORT_ENV, raw)
        return None
    from prometheus_client import start_http_server

    make()
    with _serving:
        if port not in _served:
            try:
                _served[port] = start_http_server(port, addr=env.get(METRICS_ADDRESS_ENV) or "0.0.0.0")
            except OSError as exc:  # the function's work matters more than its metrics: say so, go on
                log.error("metrics listener not started on port %d: %s", port, exc)
                return None
            log.info("metrics on :%d/metrics", port)
    return port
