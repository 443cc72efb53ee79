"""`tekton-dag dev`: the five functions and the local Broker on loopback, wired as in a cluster.

Prints the webhook URL, the webhook secret in use and every run outcome as it happens; without
a kubeconfig (``--kubeconfig`` or an existing ``$KUBECONFIG``, loaded before anything starts:
one the functions cannot use is an error) PipelineRuns go to a dry-run directory as YAML files you
could ``kubectl create -f``; the dry run reads no kubeconfig. ``--simulate-tekton`` adds a Tekton
controller double that runs those PipelineRuns through Tekton's lifecycle and posts Tekton's
CloudEvents to the Broker, so queued runs start as others finish. Ctrl-C (or SIGTERM) stops everything;
a SIGKILL takes the function processes with it (``devchain.lifeline``). The configuration is
validated before anything starts, the webhook port must be free, and a function that dies is
restarted with backoff (``Chain.supervise``).

status-reporter's GitHub is ``--github-api URL`` (with the App or token of ``GITHUB_APP_ID``,
``GITHUB_APP_PRIVATE_KEY_FILE``, ``GITHUB_TOKEN_FILE``), by default the GitHub API double on
loopback (``testing.github_api``); each call the double answers is printed as it lands.

Every event the local Broker accepts is in its journal (``--journal``) before webhook-ingest
acks the webhook; a restart after a crash resumes what was left undelivered.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudevents.core.base import BaseCloudEvent

from tekton_dag.bus import routing
from tekton_dag.bus.journal import JOURNAL_ENV, SYNC_ENV
from tekton_dag.cli.common import add_teams_option, fail, load_config_or_report, port_number, seconds, usage_error
from tekton_dag.devchain.priority import AFTER_ACK_NICE, parse_nice
from tekton_dag.events import catalog
from tekton_dag.functions import loops, serving
from tekton_dag.syntax import http_url_problem

# The chain (and through it the Kubernetes client) is imported when `dev` runs, not when the CLI
# builds its parser: `tekton-dag serve` shares this parser and its cold start matters.

if TYPE_CHECKING:
    from tekton_dag.devchain.chain import ChainSettings
    from tekton_dag.testing.github_api import Call

READY_LINE = "tekton-dag dev: ready"
TEKTON_RUN_EVENT = "dev.tekton.event.pipelinerun."


def _listed(names: Iterable[str]) -> str:
    """``a, b and c``."""
    *rest, last = names
    return f"{', '.join(rest)} and {last}" if rest else last


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dev",
        help=f"run the whole chain locally: {len(serving.FUNCTIONS)} functions + local Broker",
        description=f"Start {_listed(serving.FUNCTIONS)} as HTTP servers on loopback with the local Broker "
        "between them, as in a cluster.",
    )
    add_teams_option(parser)
    parser.add_argument("--port", type=port_number, default=8080, help="webhook-ingest's port (default: 8080)")
    parser.add_argument("--kubeconfig", metavar="PATH",
                        help="create PipelineRuns in this cluster (default: $KUBECONFIG when it exists, "
                        "else a dry-run directory)")
    parser.add_argument("--dry-run-dir", metavar="DIR", type=Path,
                        help="where PipelineRun YAML goes without a kubeconfig (default: a new temp directory)")
    parser.add_argument("--triggers", metavar="DIR", type=Path, default=None,
                        help="Trigger manifests for the local Broker (default: the project's knative/)")
    parser.add_argument("--work-dir", metavar="DIR", type=Path,
                        help="function logs and dead letters (default: a new temp directory)")
    parser.add_argument("--simulate-tekton", action="store_true",
                        help="run the PipelineRuns with a Tekton controller double that sends Tekton's CloudEvents "
                        "to the Broker (with --kubeconfig: only for a cluster without Tekton, e.g. a fake API)")
    parser.add_argument("--task-seconds", metavar="S", type=seconds, default=1.0,
                        help="how long each simulated TaskRun runs (default: 1.0)")
    parser.add_argument("--github-api", metavar="URL",
                        help="status-reporter's GitHub REST API root, e.g. https://api.github.com, with the App or "
                        "token from GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY_FILE or GITHUB_TOKEN_FILE (default: a "
                        "GitHub API double on loopback that checks each call against GitHub's OpenAPI description "
                        "and prints it)")
    parser.add_argument("--journal", metavar="FILE", type=Path,
                        help=f"the local Broker's durable journal (default: ${JOURNAL_ENV}, else "
                        "broker-journal.sqlite3 in --work-dir when given, else in the dev state directory "
                        "$XDG_STATE_HOME/tekton-dag/dev)")
    parser.add_argument("--after-ack-nice", metavar="N", default=str(AFTER_ACK_NICE),
                        help="niceness added to resolver, run-creator, status-reporter and bootstrap-batcher, which "
                        "then also run as SCHED_BATCH, so that webhook-ingest and the Broker, which answer GitHub, "
                        f"get the CPU first (0 to 19; default {AFTER_ACK_NICE}; 0: same priority and policy)")
    parser.set_defaults(run=run, parser=parser)


def pick_kubeconfig(given: str | None) -> str | None:
    if given:
        return given
    from_env = os.environ.get("KUBECONFIG", "")
    return from_env if from_env and all(Path(p).is_file() for p in from_env.split(os.pathsep)) else None


def pick_journal(given: Path | None, work_dir: Path | None) -> Path:
    """``--journal``, else ``$TEKTON_DAG_JOURNAL``, else beside the given work directory, else
    in the dev state directory, which outlives the temporary work directories of past sessions."""
    if given:
        return given
    if os.environ.get(JOURNAL_ENV):
        return Path(os.environ[JOURNAL_ENV])
    if work_dir is not None:
        return work_dir / "broker-journal.sqlite3"
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "tekton-dag" / "dev" / "broker-journal.sqlite3"


def run(args: argparse.Namespace) -> int:
    from tekton_dag.bus.broker import UnresolvedDestination
    from tekton_dag.bus.triggers import ManifestError
    from tekton_dag.config.errors import ConfigInvalid
    from tekton_dag.devchain.chain import ChainError, ChainSettings, default_triggers_dir

    if args.kubeconfig and not Path(args.kubeconfig).is_file():
        return fail(f"--kubeconfig {args.kubeconfig}: no such file")
    for option, directory in (("--work-dir", args.work_dir), ("--dry-run-dir", args.dry_run_dir),
                              ("--triggers", args.triggers)):
        # else "File exists" from a mkdir, "directory: does not exist", or (--dry-run-dir) a chain
        # that starts and fails to write each PipelineRun
        if directory is not None and directory.exists() and not directory.is_dir():
            return fail(f"{option} {directory}: not a directory")
    problem = http_url_problem(args.github_api) if args.github_api else None
    if problem:
        usage_error(args.parser, f"--github-api {args.github_api!r}: expected an http(s) URL (it {problem})")
    if not 0 <= args.task_seconds <= 3600:
        usage_error(args.parser, f"--task-seconds {args.task_seconds}: must be between 0 and 3600")
    try:
        after_ack_nice = parse_nice(args.after_ack_nice)
    except ValueError as exc:
        usage_error(args.parser, f"--after-ack-nice {exc}")
    # What `tekton-dag validate` checks, before any process starts: the functions would only
    # report "not ready" until the readiness timeout (stacks/registry.yaml fallback included).
    if load_config_or_report(args.teams) is None:
        return 1
    kubeconfig = pick_kubeconfig(args.kubeconfig)
    if kubeconfig:  # else the chain started "ready" and failed every PipelineRun it was to create
        from tekton_dag.kube.clients import kubeconfig_problem

        problem = kubeconfig_problem(kubeconfig)
        if problem:
            return fail(f"{'--kubeconfig' if args.kubeconfig else 'KUBECONFIG'} {kubeconfig}: not a kubeconfig "
                        f"the functions can use ({problem})")
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="tekton-dag-dev-"))
    dry_run_dir = None if kubeconfig else (args.dry_run_dir or work_dir / "pipelineruns")
    journal = pick_journal(args.journal, args.work_dir)
    sync = os.environ.get(SYNC_ENV, "NORMAL").upper()
    if sync not in ("FULL", "NORMAL"):
        return fail(f"{SYNC_ENV}={sync}: must be FULL or NORMAL")
    secret = next((s.strip() for s in os.environ.get("GITHUB_WEBHOOK_SECRET", "").split(",") if s.strip()), "")
    settings = ChainSettings(
        teams_dir=Path(args.teams).resolve(), work_dir=work_dir.resolve(), secret=secret or secrets.token_hex(20),
        triggers_dir=args.triggers or default_triggers_dir(), webhook_port=args.port, kubeconfig=kubeconfig,
        dry_run_dir=dry_run_dir.resolve() if dry_run_dir else None,
        # every active secret (rotation), not only the one printed
        extra_env={"GITHUB_WEBHOOK_SECRET": os.environ["GITHUB_WEBHOOK_SECRET"]} if secret else {},
        simulate_tekton=args.simulate_tekton, task_seconds=args.task_seconds,
        journal=journal.resolve(), journal_sync=sync,  # type: ignore[arg-type]
        github_api=args.github_api.rstrip("/") if args.github_api else None, on_github_call=print_github_call,
        after_ack_nice=after_ack_nice,
    )
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s")
    loops.install()  # the local Broker runs in this process, on the functions' loop
    try:
        return asyncio.run(_serve(settings, generated_secret=not secret))
    except (ManifestError, UnresolvedDestination) as exc:
        return fail(f"invalid Trigger manifests: {exc}")
    except ChainError as exc:
        return fail(str(exc))
    except ConfigInvalid as exc:
        return fail(f"--teams {args.teams}: {exc}")
    except OSError as exc:
        return fail(f"cannot start: {exc}")


async def _serve(settings: ChainSettings, generated_secret: bool) -> int:
    from tekton_dag.devchain.chain import Chain

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    chain = Chain(settings, observers=(RunPrinter(settings.dry_run_dir),))
    print(f"tekton-dag dev: starting (teams {settings.teams_dir}, triggers {settings.triggers_dir})", flush=True)
    await chain.start()
    target = (
        f"cluster from {settings.kubeconfig}" if settings.kubeconfig else f"dry run, YAML in {settings.dry_run_dir}"
    )
    origin = "generated for this session" if generated_secret else "from GITHUB_WEBHOOK_SECRET"
    print(f"  webhook URL:     {chain.webhook_url}")
    print(f"  webhook secret:  {settings.secret}  ({origin})")
    print(f"  broker ingress:  {chain.broker_url}")
    print(f"  Kubernetes:      {target}")
    if settings.simulate_tekton:
        print(f"  Tekton:          simulated ({settings.task_seconds:g}s per TaskRun), CloudEvents to the broker")
    if chain.github is not None:
        print(f"  GitHub:          API double at {chain.github_url} (App {chain.github.app_id}, key "
              f"{chain.github_key_file}); each call printed")
    else:
        print(f"  GitHub:          {chain.github_url} (status-reporter's App or token from GITHUB_*)")
    print(f"  logs:            {settings.work_dir}")
    print(f"  dead letters:    {settings.work_dir / 'dead-letters.jsonl'}  (tekton-dag dead-letters list --local ...)")
    resumed = f" ({chain.recovered} undelivered from before: resuming)" if chain.recovered else ""
    print(f"  journal:         {settings.journal}{resumed}")
    print(f"  try:  GITHUB_WEBHOOK_SECRET={settings.secret} tekton-dag send pull_request.opened "
          f"jmjava/tekton-dag-vue-fe --url {chain.webhook_url}"
          + (" --installation 1" if chain.github is not None else ""))
    print(READY_LINE, flush=True)
    supervisor = asyncio.create_task(chain.supervise(_say))
    try:
        await stop.wait()
    finally:
        supervisor.cancel()
        print("tekton-dag dev: stopping", flush=True)
        await chain.stop()
    print("tekton-dag dev: stopped", flush=True)
    return 0


def _say(line: str) -> None:
    print(f"tekton-dag dev: {line}", flush=True)


def describe_github_call(call: Call) -> str:
    """One line per GitHub call the double answered: ``github POST /repos/o/r/check-runs → 201 checks/create:
    tekton-dag / stack-one (demo-fe) queued``."""
    body = call.body if isinstance(call.body, dict) else {}
    what = body.get("name") or body.get("context") or ""
    state = body.get("state") or "/".join(str(body[k]) for k in ("status", "conclusion") if body.get(k))
    detail = " ".join(str(x) for x in (what, state) if x)
    answer = call.answer if isinstance(call.answer, dict) else {}
    if call.status >= 400 and answer.get("message"):
        detail = str(answer["message"]).splitlines()[0]
    line = f"github {call.method} {call.path} → {call.status} {call.operation or 'unknown operation'}"
    return f"{line}: {detail}" if detail else line


def print_github_call(call: Call) -> None:
    print(describe_github_call(call), flush=True)  # from the double's server thread: one write per line


class RunPrinter:
    """Prints each run outcome (run.created, run.queued, run.failed, ...) as the Broker sees it."""

    def __init__(self, dry_run_dir: Path | None):
        self.dry_run_dir = dry_run_dir

    def __call__(self, event: BaseCloudEvent) -> None:
        if event.get_type().startswith(TEKTON_RUN_EVENT):
            self._tekton(event)
            return
        if event.get_type() not in routing.OUTCOMES:
            return
        data: Any = event.get_data()
        data = data if isinstance(data, dict) else {}
        what = event.get_type().removeprefix(f"{catalog.PREFIX}.").removesuffix(".v1")
        names = data.get("pipelinerun") or ", ".join(data.get("pipelineruns") or ()) or event.get_subject() or "?"
        line = f"{what}: {data.get('namespace', '?')}/{names}"
        where = ", ".join(f"{k}={data[k]}" for k in ("team", "stack", "app", "pipeline", "pr", "reason") if k in data)
        if where:
            line += f" ({where})"
        if self.dry_run_dir and event.get_type() == catalog.RUN_CREATED and data.get("pipelinerun"):
            line += f"\n  → {self.dry_run_dir / str(data.get('namespace')) / (str(data['pipelinerun']) + '.yaml')}"
        print(line, flush=True)

    @staticmethod
    def _tekton(event: BaseCloudEvent) -> None:
        """``tekton started: ns/name``, ``tekton successful: ns/name (Succeeded)``: Tekton's own events."""
        data: Any = event.get_data()
        run = data.get("pipelineRun") if isinstance(data, dict) else None
        metadata = run.get("metadata", {}) if isinstance(run, dict) else {}
        what = event.get_type().removeprefix(TEKTON_RUN_EVENT).removesuffix(".v1")
        line = f"tekton {what}: {metadata.get('namespace', '?')}/{metadata.get('name', event.get_subject() or '?')}"
        conditions = (run.get("status") or {}).get("conditions") if isinstance(run, dict) else None
        if what in ("successful", "failed") and conditions:
            line += f" ({conditions[0].get('reason', '?')})"
        print(line, flush=True)
