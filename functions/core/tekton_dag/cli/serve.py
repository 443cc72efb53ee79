"""`tekton-dag serve NAME`: one function as a real HTTP server (func-python on granian, or hypercorn).

The function listens on ``LISTEN_ADDRESS`` (``--listen`` sets it) and sends its events to the
Broker at ``K_SINK`` (``--sink`` sets it); ``--teams`` sets ``TEKTON_DAG_TEAMS_DIR``. The
environment is what a Knative deployment gives the same code, so this is how it runs there too.
``--workers N`` runs the all-in-one as N processes on one port (``tekton_dag.cli.workers``).
Without NAME it serves ``$TEKTON_DAG_FUNCTION``: each image (build-images/orchestrator/) is the one
core with that variable set, so the chart runs them with no command or args (docs/images.md).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from tekton_dag import warming
from tekton_dag.cli.common import add_teams_option, fail, http_url, sink_in_env, whole_number
from tekton_dag.config.loading import TEAMS_DIR_ENV
from tekton_dag.devchain.lifeline import PARENT_PID_ENV, die_with_parent
from tekton_dag.devchain.priority import lower_priority
from tekton_dag.eventing import K_SINK_ENV
from tekton_dag.functions import configs, deferred, serving
from tekton_dag.observability.metrics import METRICS_PORT_ENV
from tekton_dag.syntax import tcp_port

FUNCTION_ENV = "TEKTON_DAG_FUNCTION"  # the function an image serves when `serve` gets no NAME


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve one function over HTTP (LISTEN_ADDRESS, K_SINK)",
        description="Serve one tekton-dag function as a real HTTP server, as Knative runs it.",
    )
    parser.add_argument("name", metavar="NAME", nargs="?",
                        help=f"the function: {', '.join(serving.SERVABLE)} (default: ${FUNCTION_ENV})")
    parser.add_argument(
        "--listen",
        metavar="ADDR",
        help="listen address host:port (default: $LISTEN_ADDRESS, else func-python's [::]:8080,0.0.0.0:8080)",
    )
    parser.add_argument(
        "--workers", metavar="N", type=whole_number(), default=1,
        help="all-in-one only: N worker processes (1 to 64) on the one port, each with its own journal (default 1)",
    )
    parser.add_argument("--sink", type=http_url, metavar="URL",
                        help="Broker ingress URL for outgoing events (default: $K_SINK)")
    add_teams_option(parser)
    parser.set_defaults(run=run)


# A fixed cap, not a multiple of this machine's CPUs, so a command line (and the "start with --workers
# N" a leftover journal asks for, cli/workers.py) means the same on every machine. One worker is one
# core at most (the GIL) and ~140 MB resident once the configuration is loaded (docs/performance.md),
# so 64 is already more memory than a laptop or a pod is given, and more than any core count the
# all-in-one was measured on; without a cap "--workers 100000" forked until the machine gave out.
MAX_WORKERS = 64


def workers_problem(workers: int, name: str) -> str | None:
    """Why ``--workers`` cannot run ``name``, or None."""
    if workers < 1:
        return "must be 1 or more"
    if workers > MAX_WORKERS:
        return (f"at most {MAX_WORKERS} (each worker is one more all-in-one process, at most one core and "
                f"~140 MB; this machine has {os.cpu_count() or 1} CPUs)")
    if workers != 1 and name != serving.ALL_IN_ONE.name:
        return f"only all-in-one runs several workers, not {name}"
    port = tcp_port(os.environ.get(METRICS_PORT_ENV, "").strip())
    if workers > 1 and port is not None and port + workers - 1 > 65535:  # worker i serves METRICS_PORT + i
        return (f"the workers' metrics ports would be {METRICS_PORT_ENV} {port} to {port + workers - 1}, "
                "past 65535: lower either")
    return None


def run(args: argparse.Namespace) -> int:
    if os.environ.get(PARENT_PID_ENV):  # started by `tekton-dag dev`: die with it (devchain.lifeline)
        die_with_parent()
    lower_priority()  # `tekton-dag dev` runs the after-the-ack functions at a lower CPU priority
    name = args.name or os.environ.get(FUNCTION_ENV, "")
    if name not in serving.SERVABLE:
        where = "NAME" if args.name else f"${FUNCTION_ENV}" if name else f"NAME (or ${FUNCTION_ENV})"
        given = f" {name!r} is not one of" if name else " is missing; expected one of"
        print(f"tekton-dag serve: error: {where}{given} {', '.join(serving.SERVABLE)}", file=sys.stderr)
        return 2  # a usage error, as argparse's own
    problem = workers_problem(args.workers, name)
    if problem:  # before the load's log
        print(f"tekton-dag serve: error: --workers {args.workers}: {problem}", file=sys.stderr)
        return 2
    listen = args.listen or os.environ.get("LISTEN_ADDRESS", "")
    problem = listen_problem(listen) if listen else None
    if problem:  # func-python would raise a bare Exception (or a ValueError) out of its bind
        return fail(f"--listen {listen}: {problem}" if args.listen else f"LISTEN_ADDRESS {listen}: {problem}")
    _, problem = ("", "") if args.sink else sink_in_env()  # --sink was checked by argparse
    if problem:  # else the function would start Ready and fail to publish every event
        return fail(problem)
    spec = serving.SERVABLE[name]
    if spec.configured:  # now, while this process has one thread: the load may fork (functions.configs)
        # func-python configures logging when imported (func_python/http.py: basicConfig at INFO),
        # which comes later: the same here first, or the load's lines would be dropped.
        logging.basicConfig(level=logging.INFO)
        configs.preload(args.teams)
    if args.workers == 1:  # not before forking workers: the thread that resumes collections stays in the parent
        warming.hold_collections()  # until the first warm-up froze the start-up heap (tekton_dag.warming)
    deferred.defer(deferred.CLOUDEVENTS)  # before the function imports the SDK: dateutil after ready
    try:
        importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        return fail(f"function {name!r} is not available in this installation ({exc.name} missing)")
    if args.listen:
        os.environ["LISTEN_ADDRESS"] = args.listen
    if args.sink:
        os.environ[K_SINK_ENV] = args.sink
    os.environ[TEAMS_DIR_ENV] = args.teams
    if args.workers != 1:
        from tekton_dag.cli.workers import serve_workers

        return serve_workers(args.workers)
    serving.serve(name)
    return 0


def listen_problem(listen: str) -> str | None:
    """What is wrong with a LISTEN_ADDRESS (``host:port`` list, IP literals, as func_python.sock
    parses it with ``ipaddress``), or that none of its addresses can be bound; None if it serves."""
    import ipaddress

    from tekton_dag.devchain.ports import describe_holder, port_in_use

    addresses = listen.split(",")
    busy: list[str] = []
    for address in addresses:
        host, colon, port = address.rpartition(":")
        if not colon or tcp_port(port) is None:
            return f"{address!r} is not host:port with a port from 1 to 65535"
        ip = host.strip("[]")
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return f"{address!r}: the host must be an IP address (e.g. 127.0.0.1 or [::])"
        if port_in_use(ip, int(port)):
            busy.append(f"{address} ({describe_holder(int(port))})")
    if len(busy) == len(addresses):  # func-python serves on the addresses it can bind
        return f"cannot listen: in use: {'; '.join(busy)}"
    return None
