"""`tekton-dag serve all-in-one --workers N`: N all-in-one processes answering on one port.

One process is one core (the GIL), so the all-in-one scales on a machine's cores with worker
processes, like gunicorn's: this process binds the listening sockets once (func-python's
``LISTEN_ADDRESS`` rules, ``func_python.sock.bind``), then forks N workers that each serve the
same sockets with func-python's ASGI application on granian (or hypercorn: functions.limits); the kernel hands each new
connection to one of them. This process only supervises: SIGTERM / SIGINT go to every worker,
and when one worker dies the others are stopped and the exit status says so (the pod restarts,
and every worker recovers its journal).

What the workers share and what they do not:

- **Admission** (team limits, queue, supersede) is the team's ledger in a Kubernetes Lease,
  written with optimistic concurrency (``usecases.creating``): built for run-creator replicas,
  so N workers are N replicas and the team limit holds across them.
- **Dedupe** of GitHub deliveries is webhook-ingest's, per worker process. GitHub redelivers on
  a new connection, which may reach another worker: as with webhook-ingest replicas, the
  PipelineRun's deterministic name and the ledger are what keep a redelivery from running twice.
- **The bus's journal is per worker** (SQLite; its ``flock`` forbids sharing): worker 0 keeps
  ``$TEKTON_DAG_JOURNAL`` itself (so one worker is exactly the single-process all-in-one),
  worker i > 0 uses ``<journal>.worker-<i>``; each recovers its own file at start. A journal
  of a worker index ≥ N that still holds undelivered events refuses the start, naming the file
  (start once with enough workers to drain it): nothing journalled is ever silently left behind.
  The dead-letter file (``TEKTON_DAG_DEAD_LETTER_FILE``) is per worker the same way.
- **Metrics**: worker i serves ``METRICS_PORT + i`` when ``METRICS_PORT`` is set.
- **Connections are not spread by the workers** (measured decision): the workers share one
  listening socket, so a new connection goes to whichever worker accepts it first (an idle one,
  as a rule), but a keep-alive connection stays with its worker for its life, and clients reuse
  their most recent idle connection (bench/loadgen.py; Go's ``http.Transport``, which Knative's
  queue-proxy uses, keeps idle connections "most recently used at end" and takes from the end:
  golang/go src/net/http/transport.go). So at a low rate one worker does most of the work; once it
  is busy the client opens more connections, which the idle worker accepts, and the split evens
  out (150/s: 4.9 / 4.8 s of CPU). Closing each connection after 20 answers (hypercorn's
  ``keep_alive_max_requests``) evened the split at 100/s too, but neither CPU per webhook nor
  latency improved in A/B runs (docs/performance.md, "Spreading the all-in-one's workers"), so
  hypercorn's default (1,000 answers a connection) stays; granian (the default server) has no such
  count, so there a kept-alive connection stays with its worker until the client closes it or
  leaves it idle for the header timeout (5 s).
- **Ledger hints** (N > 1): after each ledger write a worker notes the Lease's version and text in
  ``<journal>.ledger-hints/`` (``usecases.ledger_hints``), so the next worker to write starts from
  it instead of a refused write and a read; the writes stay conditional, the hint is only a hint.
  Workers writing at the same moment take turns (``usecases.ledger_turns``: an flock per ledger
  in the same directory, and datagrams to wake the next).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
from pathlib import Path

from tekton_dag.bus.journal import JOURNAL_ENV, Journal, JournalError
from tekton_dag.devchain.lifeline import PARENT_PID_ENV, die_with_parent
from tekton_dag.functions import all_in_one, configs
from tekton_dag.observability.metrics import METRICS_PORT_ENV
from tekton_dag.syntax import ascii_digits
from tekton_dag.usecases.ledger_hints import HINTS_ENV

WORKER_ENV = "TEKTON_DAG_WORKER"  # this worker's index, for its logs
SCAN_LIMIT = 64  # worker journals looked for beyond N when checking for leftovers


def worker_path(base: Path, index: int) -> Path:
    """Worker ``index``'s file for the per-process file ``base`` (journal, dead letters)."""
    return base if index == 0 else base.with_name(f"{base.name}.worker-{index}")


def worker_env(env: dict[str, str], index: int) -> dict[str, str]:
    """The environment of worker ``index``: its own journal, dead-letter file and metrics port."""
    mine = dict(env)
    journal = Path(env.get(JOURNAL_ENV) or all_in_one.DEFAULT_JOURNAL)
    dead = Path(env.get(all_in_one.DEAD_LETTER_ENV) or all_in_one.DEFAULT_DEAD_LETTER_FILE)
    mine[JOURNAL_ENV] = str(worker_path(journal, index))
    mine[all_in_one.DEAD_LETTER_ENV] = str(worker_path(dead, index))
    mine[WORKER_ENV] = str(index)
    port = env.get(METRICS_PORT_ENV, "").strip()
    if ascii_digits(port) and int(port):  # 0: no listener, for every worker
        mine[METRICS_PORT_ENV] = str(int(port) + index)
    return mine


def hints_directory(env: dict[str, str]) -> Path:
    """Where the workers share their ledger hints: beside worker 0's journal."""
    journal = Path(env.get(JOURNAL_ENV) or all_in_one.DEFAULT_JOURNAL)
    return journal.with_name(journal.name + ".ledger-hints")


def leftover_journals(env: dict[str, str], workers: int) -> list[str]:
    """Journals of worker indexes ≥ ``workers`` that still hold undelivered events, as messages."""
    journal = Path(env.get(JOURNAL_ENV) or all_in_one.DEFAULT_JOURNAL)
    found = []
    for index in range(max(workers, 1), workers + SCAN_LIMIT):
        path = worker_path(journal, index)
        if not path.exists():
            continue
        opened = Journal(path)
        try:
            pending = len(opened.open())
        except JournalError as exc:
            found.append(str(exc))
            continue
        finally:
            opened.close()
        if pending:
            found.append(f"journal {path} (worker {index}) holds {pending} undelivered deliveries: "
                         f"start with --workers {index + 1} or more to resume them")
    return found


def serve_workers(count: int) -> int:
    """Bind, fork ``count`` all-in-one workers, supervise them; the exit status."""
    sock = importlib.import_module("func_python.sock")  # untyped: func-python has no py.typed

    env = dict(os.environ)
    problems = leftover_journals(env, count)
    if problems:
        for problem in problems:
            print(f"tekton-dag serve: error: {problem}", file=sys.stderr)
        return 1
    if count > 1 and not env.get(HINTS_ENV):
        env[HINTS_ENV] = str(hints_directory(env))
    binds: list[str] = sock.bind()  # raises when nothing could be bound
    children: dict[int, int] = {}
    for index in range(count):
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            os._exit(_worker(index, binds, {**worker_env(env, index), PARENT_PID_ENV: str(os.getppid())}))
        children[pid] = index
    configs.forget_preloaded()  # each worker took its copy at the fork; this process serves nothing
    return _supervise(children)


def _worker(index: int, binds: list[str], env: dict[str, str]) -> int:
    import asyncio

    import hypercorn.config
    application_type = importlib.import_module("func_python.http").ASGIApplication

    from tekton_dag.functions import limits, loops

    os.environ.clear()
    os.environ.update(env)
    die_with_parent(env)  # a worker never outlives its supervisor
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    limits.install()
    loops.install()  # the same loop as one all-in-one process (`tekton-dag serve`, the func build)
    config = hypercorn.config.Config()
    config.bind = binds  # the sockets bound before the fork: "fd://N", as func_python.sock.bind gives them
    application = application_type(all_in_one.new())
    # func-python 0.8.1 (pinned) binds its own sockets in ``serve()``; ``_serve(cfg)`` is the rest of
    # it (SIGTERM/SIGINT handlers, hypercorn.asyncio.serve, which limits.install() bounds).
    asyncio.run(application._serve(config))
    return 0


def _supervise(children: dict[int, int]) -> int:
    """Wait for the workers; a signal is passed on to all, one worker's death stops the rest."""
    stopping = False

    def stop_all(sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    status = 0
    while children:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid, None)
        if index is None:
            continue
        exit_code = os.waitstatus_to_exitcode(code)
        if not stopping:
            print(f"tekton-dag serve: worker {index} exited ({exit_code}): stopping the others", file=sys.stderr)
            status = 1
            stop_all(signal.SIGTERM, None)
        elif exit_code not in (0, -signal.SIGTERM, -signal.SIGINT):
            status = 1
    return status
