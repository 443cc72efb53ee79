"""The whole event chain on one machine, wired exactly as in a cluster.

Each function runs as its own process (``tekton-dag serve NAME``: func-python on granian) on a
loopback port, with ``K_SINK`` = the local Broker's ingress and ``TEKTON_DAG_TEAMS_DIR`` set;
the local Broker (in this process) delivers to them through the Trigger manifests in
``knative/``; with ``journal`` set, every event the Broker accepts is on disk before it is
acked and a restart resumes what was left undelivered. The Kubernetes target is a kubeconfig
when one is given, otherwise a dry-run directory (``TEKTON_DAG_DRY_RUN_DIR``) where run-creator
writes each PipelineRun as YAML. status-reporter's GitHub is ``github_api`` when given (the App or
token then comes from this process's ``GITHUB_*`` environment), else a GitHub API double started in
this process on loopback (``testing.github_api``: GitHub's OpenAPI description, App JWT and
installation tokens), with an App key pair made at start; ``on_github_call`` sees each call it
answers. With ``simulate_tekton`` a Tekton controller double
(``devchain.simulation``) runs those PipelineRuns and posts Tekton's CloudEvents to the Broker.
``tekton-dag dev``, the end-to-end tests and the chain benchmarks all use this module.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tekton_dag.bus.broker import LocalBroker, Observer
from tekton_dag.bus.journal import Journal, JournalError, Synchronous
from tekton_dag.bus.triggers import load_topology
from tekton_dag.devchain import hosting, ports
from tekton_dag.devchain.lifeline import PARENT_PID_ENV
from tekton_dag.devchain.priority import AFTER_ACK_NICE, NICE_ENV
from tekton_dag.events.sealing import KEY_ENV, KEY_FILE_ENV, EventKeys
from tekton_dag.functions.serving import FUNCTIONS
from tekton_dag.kube.stores import DRY_RUN_DIR_ENV
from tekton_dag.testing.serving import free_ports

if TYPE_CHECKING:
    from tekton_dag.testing.github_api import Call, GitHubApiDouble
    from tekton_dag.testing.tekton import TektonDouble

log = logging.getLogger("tekton_dag.chain")

WEBHOOK_FUNCTION = "webhook-ingest"
READINESS_PATH = "/health/readiness"
TEAMS_DIR_ENV = "TEKTON_DAG_TEAMS_DIR"
REPORTER_FUNCTION = "status-reporter"
# The double's App installations: its default one and the one of @octokit/webhooks-examples'
# payloads (`installation.id` 1), which `tekton-dag send` delivers; each covers every repository.
DEV_INSTALLATIONS = (1, 1001)


class ChainError(RuntimeError):
    """The chain could not start; the message says which part and why (with its log's tail)."""


def default_triggers_dir() -> Path:
    """``knative/`` of the source tree this package runs from, else ``./knative``."""
    beside_source = Path(__file__).resolve().parents[4] / "knative"
    return beside_source if beside_source.is_dir() else Path("knative")


@dataclass
class ChainSettings:
    teams_dir: Path
    work_dir: Path  # function logs and the dead-letter file
    secret: str
    triggers_dir: Path = field(default_factory=default_triggers_dir)
    webhook_port: int = 0  # 0: any free port
    host: str = "127.0.0.1"
    kubeconfig: str | None = None
    # Per function, a kubeconfig of its own (its ServiceAccount's token, as in a cluster); a
    # function not named here uses ``kubeconfig``.
    kubeconfigs: dict[str, str] = field(default_factory=dict)
    dry_run_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    broker_capacity: int = 1000
    ready_timeout: float = 30.0
    # The team's event key (events.sealing): the one in the environment, else a new one per chain.
    event_key: str = field(default_factory=lambda: ",".join(EventKeys(os.environ).current()) or secrets.token_hex(32))
    simulate_tekton: bool = False
    task_seconds: float = 1.0  # each simulated TaskRun
    journal: Path | None = None  # the Broker's durable journal; None: events live in memory only
    journal_sync: Synchronous = "NORMAL"
    github_api: str | None = None  # status-reporter's GitHub REST API root; None: the double, in this process
    # Niceness added to every function but webhook-ingest: the work after the ack yields the CPU to
    # the ack path (webhook-ingest and the Broker in this process); 0: all alike (devchain.priority).
    after_ack_nice: int = AFTER_ACK_NICE
    on_github_call: Callable[[Call], None] | None = None  # each call the double answered (printing, tests)


@dataclass
class FunctionProcess:
    name: str
    port: int
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0  # time.monotonic() of the last spawn
    restarts: int = 0
    metrics_port: int = 0  # its METRICS_PORT (observability.metrics): /metrics for every function

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Chain:
    """Start with ``await chain.start()``, stop with ``await chain.stop()`` (idempotent)."""

    def __init__(self, settings: ChainSettings, observers: tuple[Observer, ...] = ()):
        self.settings = settings
        self.observers = observers
        self.functions: dict[str, FunctionProcess] = {}
        self.broker: LocalBroker | None = None
        self.broker_url = ""
        self.recovered = 0  # deliveries the journal held at start (resumed once the functions are up)
        self._shutdown = asyncio.Event()
        self._server: asyncio.Task[None] | None = None
        self.tekton: TektonDouble | None = None
        self._tekton_stop = asyncio.Event()
        self._tekton_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.github: GitHubApiDouble | None = None  # the GitHub API double, unless settings.github_api

    @property
    def github_key_file(self) -> Path:
        """The double's App private key, as status-reporter reads it (GITHUB_APP_PRIVATE_KEY_FILE)."""
        return self.settings.work_dir / "github-app.pem"

    @property
    def github_url(self) -> str:
        return self.settings.github_api or (self.github.url if self.github is not None else "")

    @property
    def webhook_url(self) -> str:
        return f"http://{self.settings.host}:{self.functions[WEBHOOK_FUNCTION].port}/webhook/github"

    async def start(self) -> None:
        """Load the Triggers (``ManifestError`` when invalid), start the Broker and the functions,
        and return once every function answers its readiness probe."""
        s = self.settings
        if s.webhook_port and ports.port_in_use(s.host, s.webhook_port):
            raise ChainError(f"port {s.webhook_port} on {s.host} is in use, {ports.describe_holder(s.webhook_port)}: "
                             "stop it or pick another --port")
        s.work_dir.mkdir(parents=True, exist_ok=True)
        topology = load_topology(s.triggers_dir)
        if s.github_api is None:
            self.start_github()
        ports_left = free_ports(2 * len(FUNCTIONS), s.host)  # each function's, and its metrics port
        for name in FUNCTIONS:
            port, metrics_port = ports_left.pop(), ports_left.pop()
            if name == WEBHOOK_FUNCTION and s.webhook_port:
                port = s.webhook_port
            log_file = s.work_dir / f"{name}.log"
            self.functions[name] = FunctionProcess(name, port, log_file, metrics_port=metrics_port)
        services = {name: fn.url for name, fn in self.functions.items()}
        journal = Journal(s.journal, s.journal_sync) if s.journal is not None else None
        self.broker = LocalBroker(
            topology,
            services,
            s.work_dir / "dead-letters.jsonl",
            capacity=s.broker_capacity,
            observers=self.observers,
            journal=journal,
            resume_on_start=False,
            keys=EventKeys({KEY_ENV: s.event_key}),
        )
        try:
            self.recovered = self.broker.recover()
        except JournalError as exc:
            raise ChainError(str(exc)) from None
        sock = hosting.listen(s.host)
        self.broker_url = hosting.url_of(sock, self.broker.topology.ingress_path)
        self._server = asyncio.create_task(hosting.serve_broker(self.broker, sock, self._shutdown))
        try:
            for name in self.functions:
                self.spawn(name)
            await asyncio.gather(*(self.wait_ready(name) for name in self.functions))
            self.broker.resume()  # now that every subscriber answers
            if s.simulate_tekton:
                self.start_tekton()
        except BaseException:
            await self.stop()
            raise

    def start_github(self) -> None:
        """The GitHub API double on loopback, with a new App key pair (the key file private to us)."""
        from tekton_dag.testing.github_api import GitHubApiDouble

        self.github = GitHubApiDouble(installations=dict.fromkeys(DEV_INSTALLATIONS),
                                      on_call=self.settings.on_github_call)
        self.github.start()
        self.github_key_file.touch(mode=0o600)
        self.github_key_file.write_text(self.github.private_key_pem)

    def start_tekton(self) -> None:
        from tekton_dag.devchain.simulation import simulated_tekton

        s = self.settings
        self.tekton = simulated_tekton(s.teams_dir, self.broker_url, s.kubeconfig, s.dry_run_dir, s.task_seconds)
        self._tekton_task = asyncio.create_task(self.tekton.run(self._tekton_stop))

    def environment(self, fn: FunctionProcess) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", DRY_RUN_DIR_ENV)}
        env.update(
            LISTEN_ADDRESS=f"{s.host}:{fn.port}",
            K_SINK=self.broker_url,
            GITHUB_WEBHOOK_SECRET=s.secret,
            PYTHONUNBUFFERED="1",
            METRICS_PORT=str(fn.metrics_port),
            METRICS_ADDRESS=s.host,
        )
        env[TEAMS_DIR_ENV] = str(s.teams_dir)
        env.pop("GITHUB_WEBHOOK_SECRET_FILE", None)
        env[KEY_ENV] = s.event_key
        env[PARENT_PID_ENV] = str(os.getpid())  # the child dies with us, even on SIGKILL (lifeline)
        env.pop(KEY_FILE_ENV, None)
        env.pop(NICE_ENV, None)
        if fn.name != WEBHOOK_FUNCTION and s.after_ack_nice:
            env[NICE_ENV] = str(s.after_ack_nice)
        kubeconfig = s.kubeconfigs.get(fn.name, s.kubeconfig)
        if kubeconfig:
            env["KUBECONFIG"] = kubeconfig
        elif s.dry_run_dir is not None:
            env[DRY_RUN_DIR_ENV] = str(s.dry_run_dir)
        if fn.name == REPORTER_FUNCTION:
            env["GITHUB_API_URL"] = self.github_url
            if self.github is not None:  # the double's App; nothing of the developer's own GitHub access
                env.pop("GITHUB_TOKEN_FILE", None)
                env.update(GITHUB_APP_ID=self.github.app_id, GITHUB_APP_PRIVATE_KEY_FILE=str(self.github_key_file))
        env.update(s.extra_env)
        return env

    def spawn(self, name: str) -> None:
        """Start (or restart) function ``name`` on its port."""
        fn = self.functions[name]
        with fn.log_file.open("ab") as out:
            fn.process = subprocess.Popen(
                [sys.executable, "-m", "tekton_dag.cli.main", "serve", name],
                env=self.environment(fn),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in a terminal reaches us; we stop the children
            )
        fn.started_at = time.monotonic()

    async def wait_ready(self, name: str) -> float:
        """Seconds until ``name`` answered its readiness probe with 200; ChainError if it died."""
        fn = self.functions[name]
        started = time.monotonic()
        deadline = started + self.settings.ready_timeout
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                if fn.process is None or fn.process.poll() is not None:
                    raise ChainError(f"{name} exited before it was ready; its log ends with:\n{fn.log_tail()}")
                try:
                    if (await client.get(fn.url.rstrip("/") + READINESS_PATH)).status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise ChainError(f"{name} not ready after {self.settings.ready_timeout:.0f}s:\n{fn.log_tail()}")
                await asyncio.sleep(0.02)

    def exited(self) -> list[tuple[str, int]]:
        """Functions whose process has ended, with exit codes (a crash while the chain runs)."""
        return [
            (name, fn.process.returncode)
            for name, fn in self.functions.items()
            if fn.process is not None and fn.process.poll() is not None
        ]

    async def supervise(
        self,
        report: Callable[[str], None],
        *,
        first_delay: float = 0.5,
        max_delay: float = 30.0,
        stable_after: float = 60.0,
    ) -> None:
        """Restart any function that dies, as a supervisor would, until ``stop()``: after
        ``first_delay`` seconds, doubling up to ``max_delay`` while it keeps dying, back to
        ``first_delay`` once it stayed up ``stable_after`` seconds. ``report`` gets a line per
        death and per recovery. Run it as a task; cancel it (or stop the chain) to end it."""
        await asyncio.gather(
            *(self._keep_alive(name, report, first_delay, max_delay, stable_after) for name in self.functions)
        )

    async def _keep_alive(
        self, name: str, report: Callable[[str], None], first_delay: float, max_delay: float, stable_after: float
    ) -> None:
        fn = self.functions[name]
        delay = first_delay
        while not self._stopping:
            if fn.process is None or fn.process.poll() is None:
                await asyncio.sleep(0.2)
                continue
            if time.monotonic() - fn.started_at >= stable_after:
                delay = first_delay
            report(
                f"{name} exited (code {fn.process.returncode}); restarting in {delay:g}s "
                f"(restart {fn.restarts + 1}; its events are retried meanwhile). Log: {fn.log_file}"
            )
            await asyncio.sleep(delay)
            if self._stopping:
                return
            fn.restarts += 1
            self.spawn(name)
            try:
                await self.wait_ready(name)
                report(f"{name} is back (restart {fn.restarts})")
            except ChainError as exc:
                report(f"{name} did not come back: {str(exc).splitlines()[0]}")
            delay = min(max_delay, delay * 2)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Stop function ``name`` abruptly (tests: a crashed pod)."""
        fn = self.functions[name]
        if fn.process is not None and fn.process.poll() is None:
            fn.process.send_signal(sig)
            fn.process.wait(10)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting webhooks, let the Broker finish what it holds, then stop everything."""
        self._stopping = True  # no restart from here on
        ingest = self.functions.get(WEBHOOK_FUNCTION)
        if ingest is not None:
            await asyncio.to_thread(_terminate, ingest)
        if self._tekton_task is not None and self.tekton is not None:
            self._tekton_stop.set()
            await self._tekton_task
            await self.tekton.aclose()
            self._tekton_task = None
        if self.broker is not None:
            await self.broker.drained(grace)
        await asyncio.gather(*(asyncio.to_thread(_terminate, fn) for fn in self.functions.values()))
        if self.broker is not None:
            await self.broker.close(grace=0)  # no subscriber is left: the rest stays journalled (else dead-lettered)
        self._shutdown.set()
        if self._server is not None:
            await self._server
            self._server = None
        if self.github is not None:
            await asyncio.to_thread(self.github.stop)


def _terminate(fn: FunctionProcess, timeout: float = 5.0) -> None:
    process = fn.process
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
