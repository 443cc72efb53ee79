"""The local Broker on its own: ``python -m tekton_dag.devchain --service NAME=URL ...``.

For running functions some other way (``func run``, a debugger) behind the same Broker that
``tekton-dag dev`` uses. Exit 1 with a message naming file and field for invalid Triggers.
Sealed events (``tekton_dag.events.sealing``) are checked with the key in ``TEKTON_DAG_EVENT_KEY``
(or ``TEKTON_DAG_EVENT_KEY_FILE``): give the functions the same one.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from tekton_dag.bus.broker import LocalBroker, UnresolvedDestination
from tekton_dag.bus.journal import Journal, JournalError
from tekton_dag.bus.triggers import ManifestError, load_topology
from tekton_dag.devchain import hosting
from tekton_dag.devchain.chain import default_triggers_dir
from tekton_dag.events.sealing import EventKeys
from tekton_dag.functions import loops
from tekton_dag.syntax import http_url_problem


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tekton_dag.devchain", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--triggers", type=Path, default=None, help="Trigger manifests (default: the project's knative/)"
    )
    parser.add_argument("--service", action="append", default=[], metavar="NAME=URL",
                        help="where Service NAME (a subscriber ref or dead-letter sink) listens; repeatable")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8180, help="ingress port (default: 8180)")
    parser.add_argument("--dead-letter-file", type=Path, default=Path("dead-letters.jsonl"),
                        help="where dead letters go without a sink (default: ./dead-letters.jsonl)")
    parser.add_argument("--journal", type=Path, default=None,
                        help="durable journal of accepted events, resumed at start (default: none, in memory)")
    parser.add_argument("--capacity", type=int, default=1000, help="deliveries in flight before ingress answers 503")
    return parser.parse_args(argv)


async def serve(broker: LocalBroker, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sock = hosting.listen(host, port)
    print(f"local Broker: ingress {hosting.url_of(sock, broker.topology.ingress_path)}, "
          f"{len(broker.topology.triggers)} Triggers", flush=True)
    await hosting.serve_broker(broker, sock, stop)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(levelname)s: %(message)s")
    services = {}
    for item in args.service:
        name, sep, url = item.partition("=")
        if not sep or not name or http_url_problem(url):
            print(f"error: --service {item!r}: expected NAME=http://host:port/", file=sys.stderr)
            return 2
        services[name] = url
    try:
        topology = load_topology(args.triggers or default_triggers_dir())
        journal = Journal(args.journal) if args.journal else None
        # Closed by default: without a key in the environment every sealed event is refused (503).
        broker = LocalBroker(topology, services, args.dead_letter_file, capacity=args.capacity, journal=journal,
                             keys=EventKeys(os.environ))
    except (ManifestError, UnresolvedDestination) as exc:
        print(f"error: invalid Trigger manifests: {exc}", file=sys.stderr)
        return 1
    try:
        broker.recover()
    except JournalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    loops.install()
    try:
        asyncio.run(serve(broker, args.host, args.port))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
