"""status-reporter: the cloudevent function that shows each pull-request run on GitHub as a check.

Consumes run-creator's outcomes (``run.created``, ``run.queued``, ``run.started``, ``run.failed``,
``run.cancelled``) and Tekton's PipelineRun events (``started``, ``running``, ``successful``,
``failed``: ``catalog.TEKTON_PIPELINERUN_SHOWN``; ``unknown`` is not routed to it). It is a
consumer of its own beside the chain, so a slow or unavailable GitHub never slows webhook →
PipelineRun: its events wait in the Broker.

A Re-run of a head that is no longer its pull request's (``github.check_run`` / ``check_suite``
marked ``tektondagoutdated``; the resolver runs nothing for it) has its re-requested checks
settled, since GitHub reset their suite to queued (``tekton_dag.usecases.declining``).

It also carries out PR commands (``command.requested``, from the resolver): it holds the GitHub
credentials to authorise them, then publishes the sealed ``run.requested`` /
``run.cancel.requested`` to the Broker (``K_SINK``) or replies on the PR
(``tekton_dag.usecases.commanding.carry_out``). A command that cannot be carried out is answered
503 (no GitHub client, no ``K_SINK``, the Broker refusing), 401/403 when unsealed or forged.

Answers: 202 (empty) when handled, including "nothing to report"; 400 for data that can never be
handled; 503 when GitHub (``GitHubError`` with ``retryable``) or the Kubernetes API is unavailable,
so the Broker retries (Knative ``delivery.retry``/``backoff``). GitHub refusing for good (a 4xx
that is not a rate limit) is logged, counted (``tektondag_check_reports{result="refused"}``) and
acknowledged: retrying cannot help and must not hold up the Broker.

Tekton's events are not sealed (Tekton cannot seal them): they are hints, and the run status-reporter
reads back from the API decides what is reported. run-creator's outcomes are replies to sealed
requests; they only name runs, which are read back the same way (``run.failed`` of a run that was
never created is the exception: its data is all there is).

Environment: ``TEKTON_DAG_TEAMS_DIR``, ``TEKTON_DAG_DRY_RUN_DIR`` (read runs from a dry-run directory),
the Kubernetes client's usual configuration, and GitHub's (``github_from_env``). All logic is in
``tekton_dag.usecases.reporting``; this module only adapts.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from cloudevents.core.v1.event import CloudEvent

from tekton_dag import warming
from tekton_dag.checks import reports
from tekton_dag.checks.states import Report
from tekton_dag.config.models import Config, Team
from tekton_dag.eventing import K_SINK_ENV
from tekton_dag.eventing.publishing import Publisher, PublishError
from tekton_dag.events import catalog, codec
from tekton_dag.events.errors import RequestError
from tekton_dag.functions.lifecycle import REFUSED, Handler, Wiring, plain, refuse
from tekton_dag.github.port import GitHub, GitHubError
from tekton_dag.kube.errors import PermanentApiError, TransientApiError
from tekton_dag.kube.stores import RunStore, store_from_env
from tekton_dag.observability import metrics
from tekton_dag.pipelineruns.naming import label_value
from tekton_dag.usecases.reporting import Reporter, Result

if TYPE_CHECKING:  # imported by the first command or the warm-up: ~20 ms of dataclasses not needed to start
    from tekton_dag.usecases import commanding

log = logging.getLogger(__name__)
WARM_UP_DELAY_S = 0.5  # after the first readiness probes, before the first events
# How often GitHub access is tried again while it is not configured. The kubelet puts a new Secret's
# files into a pod within its sync period plus its cache's TTL (about a minute by default:
# https://kubernetes.io/docs/concepts/configuration/secret/#using-secrets-as-files-from-a-pod), so 10 s adds little.
GITHUB_RETRY_S = 10.0
COMMANDS_MODULE = "tekton_dag.usecases.commanding"  # imported after start (setup's warm-up)


class GitHubNotConfigured(RuntimeError):
    """status-reporter has no way to reach GitHub (the message says what to set)."""


def github_from_env(env: Mapping[str, str]) -> GitHub:
    """The GitHub REST client the environment configures (``github.settings``: ``GITHUB_API_URL``,
    ``GITHUB_APP_ID`` + ``GITHUB_APP_PRIVATE_KEY_FILE``, else ``GITHUB_TOKEN_FILE``); the chart sets
    them from its ``github`` values. GitHubNotConfigured says what is missing or wrong."""
    from tekton_dag.github.client import Client  # here: only status-reporter pays for it
    from tekton_dag.github.settings import Settings, SettingsError

    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        raise GitHubNotConfigured(f"GitHub access misconfigured: {exc}") from None
    if settings is None:
        raise GitHubNotConfigured(
            "no GitHub access configured: set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_FILE (chart: github.appId "
            "and github.appSecret) for check runs, or GITHUB_TOKEN_FILE (github.tokenSecret) for commit statuses"
        )
    return Client(settings)  # on aiohttp's connections (github.client says why)


class StatusReporterFunction(Handler):
    publishes = False  # replies are empty: it only talks to GitHub
    seals = False  # acts on nothing sealed by itself: it reads the runs back from the API

    def __init__(self, wiring: Wiring | None = None) -> None:
        super().__init__(wiring)
        self.reporter: Reporter | None = None
        self._store: RunStore | None = None
        self._github: GitHub | None = None  # the client this handler made (closed at teardown)
        self._problem = ""
        self._tried_at = float("-inf")  # when ``_connect`` last tried to configure GitHub access
        self._stopped = False
        self._index = TeamIndex(Config(teams=()))
        self._permissions: commanding.PermissionCache | None = None  # made by the first command
        self._replies: commanding.Replies | None = None

    def setup(self) -> None:
        if self.env.get(K_SINK_ENV):  # commands only; checks need no Broker (publishes stays False)
            # the all-in-one hands its in-process bus, as to every publishing handler (lifecycle.start)
            self.publisher = self.wiring.publisher or Publisher(self.env[K_SINK_ENV], client=self.wiring.broker)
        self._store = self.wiring.store or store_from_env(self.env)
        self._connect(first=True)

    def _connect(self, first: bool = False) -> None:
        """Make the reporter, once GitHub access is configured. Started without it (the chart mounts
        the key and the token as optional Secrets, so a release is Ready before they exist), this is
        tried again at most every ``GITHUB_RETRY_S`` by the readiness probe and by events: creating
        the Secret later needs no new pod."""
        github = self.wiring.github
        if github is None:
            self._tried_at = time.monotonic()
            try:
                github = self._github = github_from_env(self.env)
            except GitHubNotConfigured as exc:
                if first or str(exc) != self._problem:  # said once per reason, not every retry
                    if self._checks_wanted():  # an error only while a team asks for checks, as ``problem``
                        log.error("%s", exc)
                    else:
                        log.info("%s; no team asks for checks, so nothing is reported", exc)
                self._problem = str(exc)
                return
            if not first:
                log.info("GitHub access configured (%s): reporting from now on", github.mode)
        self._problem = ""
        assert self._store is not None  # setup made it before the first try
        self.reporter = Reporter(self._current_config, self._store, github)
        # The Kubernetes client, the JWT library and the commands' use case, imported after the path
        # to ready (tekton_dag.warming)
        steps = [step for step in (getattr(self._store, "warm_up", None), getattr(github, "warm_up", None)) if step]
        steps.append(lambda: importlib.import_module(COMMANDS_MODULE))
        warming.in_background(lambda: [step() for step in steps], "status-reporter warm-up", WARM_UP_DELAY_S)

    def _reconnected(self) -> Reporter | None:
        """The reporter, trying ``_connect`` again first when there is none and the last try is
        ``GITHUB_RETRY_S`` old (reading two small files: cheap enough for a probe)."""
        if (self.reporter is None and self._store is not None and not self._stopped
                and time.monotonic() - self._tried_at >= GITHUB_RETRY_S):
            self._connect()
        return self.reporter

    def problem(self) -> str:
        """GitHub unreachable matters only once a team asks for checks (closed: never a silent no-op)."""
        self._reconnected()
        return self._problem if self._problem and self._checks_wanted() else ""

    def _checks_wanted(self) -> bool:
        return self._teams().checks_wanted

    def _teams(self) -> TeamIndex:
        """The look-ups of the configuration served now, made once per loaded configuration."""
        config = self._current_config()
        if self._index.config is not config:
            self._index = TeamIndex(config)
        return self._index

    def teardown(self) -> list[Coroutine[Any, Any, None]]:
        self._stopped = True  # no GitHub client made after this: nothing would close it
        return [*self.closing_own(self._store, self.wiring.store), *self.closing_own(self._github, None)]

    def _current_config(self) -> Config:
        current = self.configs.current() if self.configs is not None else None
        return current if current is not None else Config(teams=())

    async def handle(self, scope: dict[str, Any], receive: Callable[..., Any], send: Any) -> None:
        event: CloudEvent = scope["event"]
        if event.get_type() == catalog.COMMAND_REQUESTED:
            await self._command(event, send)
            return
        if self._reconnected() is None:
            if self._problem and not self._checks_wanted():
                await plain(send, 202, "")  # no team wants checks: nothing to report, nothing to retry
                return
            await plain(send, 503, f"status-reporter is not ready: {self._problem or 'not started'}")
            return
        team = metrics.UNCONFIGURED
        try:
            data = codec.data(event)
            team = self._team_label(data)
            if event.get_type() in (catalog.GITHUB_CHECK_RUN, catalog.GITHUB_CHECK_SUITE):
                self.keys.check(event, data)  # webhook-ingest seals them: a forged one writes nothing to GitHub
            results = await self._dispatch(event.get_type(), event.get_id(), data)
        except REFUSED as exc:
            await refuse(send, event, exc, log)
            return
        except GitHubError as exc:
            if exc.retryable:
                log.warning("event %s: GitHub unavailable, the Broker retries: %s", event.get_id(), exc)
                metrics.CHECK_REPORTS.labels(team, "retried").inc()
                await plain(send, 503, f"GitHub unavailable: {exc}")
                return
            log.error("event %s: GitHub refused (status %s), not retried: %s", event.get_id(), exc.status, exc)
            metrics.CHECK_REPORTS.labels(team, "refused").inc()
            await plain(send, 202, "")
            return
        except TransientApiError as exc:
            log.warning("event %s: %s", event.get_id(), exc)
            metrics.CHECK_REPORTS.labels(team, "retried").inc()
            await plain(send, 503, f"Kubernetes API unavailable: {exc}")
            return
        except PermanentApiError as exc:  # e.g. 403: the chart's RBAC is wrong; retrying cannot help
            log.error("event %s: %s", event.get_id(), exc)
            metrics.CHECK_REPORTS.labels(team, "refused").inc()
            await plain(send, 202, "")
            return
        for result in results:
            metrics.CHECK_REPORTS.labels(team, result).inc()
        await plain(send, 202, "")

    async def _command(self, event: CloudEvent, send: Any) -> None:
        """A PR command (module docstring); GitHub's errors are answered as for the checks."""
        reporter = self._reconnected()
        if reporter is None or self.publisher is None:
            missing = f"{K_SINK_ENV} is not set" if reporter else (self._problem or "not started")
            await plain(send, 503, f"status-reporter cannot carry out commands: {missing}")
            return
        from tekton_dag.usecases import commanding  # a look-up once imported (the warm-up does)

        if self._permissions is None or self._replies is None:
            self._permissions, self._replies = commanding.PermissionCache(), commanding.Replies()
        try:
            result = await commanding.carry_out(event, self._current_config(), reporter.github, self.keys,
                                                self.publisher.publish, permissions=self._permissions,
                                                replies=self._replies)
        except REFUSED as exc:
            await refuse(send, event, exc, log)
            return
        except PublishError as exc:
            log.warning("command %s: %s", event.get_id(), exc)
            await plain(send, 503, str(exc))
            return
        except GitHubError as exc:
            if exc.retryable:
                log.warning("command %s: GitHub unavailable, the Broker retries: %s", event.get_id(), exc)
                await plain(send, 503, f"GitHub unavailable: {exc}")
                return
            log.error("command %s: GitHub refused (status %s), not retried: %s", event.get_id(), exc.status, exc)
            result = "failed"
        metrics.COMMANDS.labels(self._team_label(codec.data(event)), result).inc()
        await plain(send, 202, "")

    async def _dispatch(self, kind: str, event_id: str, data: Any) -> list[Result]:
        assert self.reporter is not None
        if not isinstance(data, dict):
            raise RequestError("data: must be a JSON object")
        if kind in catalog.TEKTON_PIPELINERUN_ALL:
            # Which run to look at; what its check says comes from the run as the API has it.
            namespace, name = _tekton_run(data)
            return [await self.reporter.report(namespace, name, reports.from_run)]
        if kind in (catalog.GITHUB_CHECK_RUN, catalog.GITHUB_CHECK_SUITE):  # only outdated ones (routing)
            return await _outdated_rerun(self.reporter.github, kind, event_id, data)
        if kind == catalog.RUN_FAILED:
            return [await self.reporter.report_not_created(event_id, data, reports.not_created(
                str(data.get("reason") or "unknown reason")))]
        if kind == catalog.RUN_CANCELLED:
            by_head = str(data.get("keep_head_sha") or "") if data.get("reason") == "superseded" else ""
            report = reports.cancelled(str(data.get("reason") or ""), by_head)
            return await self._each(self._namespace(data), _names(data, "pipelineruns"), report)
        if kind == catalog.RUN_STARTED:
            return await self._each(str(data.get("namespace") or ""), _names(data, "pipelineruns"), reports.admitted())
        if kind in (catalog.RUN_CREATED, catalog.RUN_QUEUED):
            namespace, name = str(data.get("namespace") or ""), str(data.get("pipelinerun") or "")
            report = reports.created() if kind == catalog.RUN_CREATED else reports.queued(
                _integer(data, "position"), _integer(data, "limit"))
            results = [await self.reporter.report(namespace, name, report)] if namespace and name else []
            superseding = reports.cancelled("superseded", str(data.get("head_sha") or "a newer head"))
            return results + await self._each(namespace, _names(data, "superseded"), superseding)
        raise RequestError(f"type: status-reporter does not handle {kind!r}")

    async def _each(self, namespace: str, names: list[str], report: Report) -> list[Result]:
        assert self.reporter is not None
        return [await self.reporter.report(namespace, name, report) for name in names] if namespace else []

    def _namespace(self, data: dict[str, Any]) -> str:
        team = self._teams().by_name.get(str(data.get("team") or ""))
        return team.namespace if team else ""

    def _team_label(self, data: Any) -> str:
        """The team of an event as a bounded metric label: a configured team, else UNCONFIGURED."""
        if not isinstance(data, dict):
            return metrics.UNCONFIGURED
        run = data.get("pipelineRun")
        metadata = run.get("metadata") if isinstance(run, dict) else None
        labels = metadata.get("labels") if isinstance(metadata, dict) else None  # unsealed: any shape
        label = labels.get("tekton-dag.dev/team") if isinstance(labels, dict) else None
        named = str(data.get("team") or label or "")
        return self._teams().label_of.get(named, metrics.UNCONFIGURED)


class TeamIndex:
    """What status-reporter looks up per event, by key instead of a walk over every team (with
    1,000 teams the walk for the metric label alone, a label value made per team, took 1.3 ms of
    CPU per event). Built once per loaded configuration."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.by_name: dict[str, Team] = {}
        self.label_of: dict[str, str] = {}  # a team's name or its label value -> its name (the first team wins)
        for team in config.teams:
            self.by_name.setdefault(team.name, team)
            for key in (team.name, label_value(team.name)):
                self.label_of.setdefault(key, team.name)
        self.checks_wanted = any(team.github.checks for team in config.teams)


def new(wiring: Wiring | None = None) -> StatusReporterFunction:
    """func-python's factory: one instance per process."""
    return StatusReporterFunction(wiring)


def _tekton_run(data: dict[str, Any]) -> tuple[str, str]:
    run = data.get("pipelineRun")
    metadata = run.get("metadata") if isinstance(run, dict) else None
    if not isinstance(run, dict) or not isinstance(metadata, dict) or not metadata.get("name") \
            or not metadata.get("namespace"):
        raise RequestError("data.pipelineRun.metadata: name and namespace required")
    return str(metadata["namespace"]), str(metadata["name"])


async def _outdated_rerun(client: GitHub, kind: str, event_id: str, data: dict[str, Any]) -> list[Result]:
    """Settle the checks a Re-run of an outdated head reset (``usecases.declining``)."""
    from tekton_dag.events import github  # rare events: neither is imported on the way to ready
    from tekton_dag.usecases import declining

    try:
        event = github.GitHubEvent.from_data(kind, event_id, data)
    except github.PayloadError as exc:
        raise RequestError(f"data: {exc}") from None
    return await declining.settle(client, event)


def _names(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise RequestError(f"{key}: must be a list of PipelineRun names")
    return value


def _integer(data: dict[str, Any], key: str) -> int:
    value = data.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


__all__ = ["GitHubNotConfigured", "StatusReporterFunction", "TeamIndex", "github_from_env", "new"]
