"""`tekton-dag dead-letters list|replay`: the events a Broker gave up on, and sending them again.

Two stores, one command:

- ``--local FILE``: the JSON-lines file of the local Broker (``tekton-dag dev`` prints where).
  ``replay`` posts each original event to ``--broker URL`` (the dev chain's "broker ingress",
  default ``$K_SINK``) and appends a marker line, so the file is never rewritten under the Broker.
- ``--namespace NS``: the ConfigMaps the chart's ``dead-letters`` sink keeps there (through
  ``--kubeconfig``, else ``$KUBECONFIG`` / ``~/.kube/config``). ``replay`` labels them
  ``replay-requested``; the sink, inside the cluster, publishes them to the Broker and labels them
  ``replayed`` -- so this needs only ``list`` and ``patch`` on ConfigMaps, not a route to the
  Broker. It waits up to ``--wait`` seconds for that.

A replay is the original event (same id, Knative's error extensions removed, seal intact) through
the normal chain: consumers that already acted on it drop it, so replaying twice creates nothing
new. ``replay --all`` takes only letters not replayed yet; a name given explicitly is replayed
whatever its state. Exit 0 when every chosen letter was replayed, 1 otherwise (nothing is marked
or sent when a name is unknown).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
from pathlib import Path
from typing import Any

from tekton_dag.cli.common import add_output_option, emit, fail, http_url, seconds, sink_in_env, usage_error
from tekton_dag.config.validation import DNS1123_LABEL
from tekton_dag.eventing import K_SINK_ENV
from tekton_dag.events.deadletters import NEW, REPLAYED, REQUESTED, Letter, LetterError, from_structured

DEFAULT_WAIT_S = 30.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dead-letters", help="list and replay dead letters (local file or cluster)",
        description="List the events a Broker gave up on, or replay them through the normal chain.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list dead letters",
                                 description="List dead letters (not yet replayed ones, unless --all).")
    _add_store_options(listing)
    listing.add_argument("--all", action="store_true", help="include letters already replayed")
    add_output_option(listing)
    listing.set_defaults(run=run_list, parser=listing)
    replay = actions.add_parser("replay", help="replay dead letters through the Broker",
                                description="Send dead letters again, as they were first sent (same ids).")
    replay.add_argument("names", metavar="NAME", nargs="*", help="letters to replay (names from `list`)")
    replay.add_argument("--all", action="store_true", help="every letter not replayed yet")
    _add_store_options(replay)
    replay.add_argument("--broker", metavar="URL", type=http_url, default="",
                        help="with --local: the Broker ingress to post to (default: $K_SINK)")
    replay.add_argument("--wait", metavar="SECONDS", type=seconds, default=DEFAULT_WAIT_S,
                        help=f"with --namespace: how long to wait for the sink to replay (default: {DEFAULT_WAIT_S:g}; "
                        "0: only mark them)")
    replay.set_defaults(run=run_replay, parser=replay)


def namespace(text: str) -> str:
    """An argparse ``type``: a Kubernetes namespace name (a DNS-1123 label). Others are no namespace,
    and ".." took the API path elsewhere: /api/v1/namespaces/../configmaps lists every namespace's."""
    if not DNS1123_LABEL.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a namespace name (lower-case letters, digits and "
                                         "'-', at most 63)")
    return text


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", metavar="FILE", type=Path, help="the local Broker's dead-letter file (JSON lines)")
    where.add_argument("--namespace", "-n", metavar="NS", type=namespace,
                       help="the namespace of the cluster's dead-letters sink")
    parser.add_argument("--kubeconfig", metavar="PATH", help="with --namespace: the cluster (default: $KUBECONFIG)")


def run_list(args: argparse.Namespace) -> int:
    try:
        letters = _letters(args)
    except (LetterError, _StoreError) as exc:
        return fail(str(exc))
    shown = [letter for letter in letters if args.all or letter.state != REPLAYED]
    emit([letter.summary() for letter in shown], args.output,
         headers=("NAME", "STATE", "TYPE", "EVENT ID", "CODE", "RECEIVED", "DESTINATION"),
         rows=[(letter.name, letter.state, letter.event_type, letter.event_id, letter.code, letter.received,
                letter.destination) for letter in shown])
    return 0


def run_replay(args: argparse.Namespace) -> int:
    if bool(args.names) == bool(args.all):
        usage_error(args.parser, "name the letters to replay, or give --all (not both)")
    if args.local is not None and not args.broker:
        # $K_SINK is read here, not as --broker's default: argparse would blame --broker for a junk
        # K_SINK, even with --namespace, which never posts to a Broker.
        args.broker, problem = sink_in_env()
        if not args.broker:
            usage_error(args.parser, f"--local needs --broker URL (the dev chain's broker ingress) or ${K_SINK_ENV}")
        if problem:
            return fail(f"{problem} (or pass --broker URL)")
    if not (args.wait >= 0 and math.isfinite(args.wait)):  # nan and inf would wait for ever
        usage_error(args.parser, "--wait must be a number of seconds, 0 or more")
    try:
        letters = _letters(args)
    except (LetterError, _StoreError) as exc:
        return fail(str(exc))
    known = {letter.name: letter for letter in letters}
    unknown = [name for name in args.names if name not in known]
    if unknown:
        return fail(f"no dead letter named {', '.join(unknown)} in {_where(args)} (see `tekton-dag dead-letters list`)")
    chosen = [known[name] for name in args.names] if args.names else [x for x in letters if x.state == NEW]
    unreplayable = [letter.name for letter in chosen if letter.dropped_data]
    if unreplayable:
        return fail(f"{', '.join(unreplayable)}: the event was too large to keep; it cannot be replayed")
    if not chosen:
        print("nothing to replay")
        return 0
    try:
        if args.local is not None:
            return _replay_local(args.local, args.broker, chosen)
        return asyncio.run(_replay_cluster(args, chosen))
    except (LetterError, _StoreError) as exc:
        return fail(str(exc))


# --- local file ----------------------------------------------------------------------------
def _replay_local(file: Path, broker: str, chosen: list[Letter]) -> int:
    import httpx
    from cloudevents.core.bindings.http import to_binary_event

    from tekton_dag.bus.deadletters import mark_replayed

    failed = 0
    with httpx.Client(timeout=10.0) as client:
        for letter in chosen:
            message = to_binary_event(from_structured(letter.event, f"{file}: {letter.name}"))
            try:
                response = client.post(broker, headers=dict(message.headers), content=message.body)
                problem = "" if 200 <= response.status_code < 300 else f"the Broker answered {response.status_code}"
            except httpx.HTTPError as exc:
                problem = f"the Broker at {broker} is unreachable ({exc.__class__.__name__})"
            if problem:
                failed += 1
                print(f"{letter.name}: not replayed: {problem}")
                continue
            # Marked as soon as the Broker took it: a replay cut short (Ctrl-C, a kill) must not
            # leave a sent letter marked new, for `replay --all` to send again.
            mark_replayed(file, [letter.name])
            again = " (again)" if letter.state == REPLAYED else ""
            print(f"{letter.name}: replayed{again} {letter.event_type} {letter.event_id}")
    return 1 if failed else 0


# --- cluster -------------------------------------------------------------------------------
class _StoreError(Exception):
    """The cluster's store could not be read or written (the message says why)."""


def _letters(args: argparse.Namespace) -> list[Letter]:
    if args.local is not None:
        from tekton_dag.bus.deadletters import read_letters

        if not args.local.exists():
            return []  # the Broker writes the file at its first dead letter
        return read_letters(args.local)
    return asyncio.run(_cluster_letters(args))


async def _cluster_letters(args: argparse.Namespace) -> list[Letter]:
    store = await _store(args)
    try:
        letters: list[Letter] = await store.letters()
        return letters
    except Exception as exc:
        raise _StoreError(_api_problem(args, exc)) from None


async def _store(args: argparse.Namespace) -> Any:
    from tekton_dag.kube.deadletters import DeadLetterStore

    where = _kubeconfig(args)
    store = DeadLetterStore(args.namespace, kubeconfig=args.kubeconfig)
    try:
        await store.shared.get()  # configured now, so a bad kubeconfig is said as such
    except Exception as exc:  # the client's config errors are of several types
        # one line: a YAML error's message spans several (the problem, then where)
        raise _StoreError(f"cannot reach the cluster{where}: {' '.join(str(exc).split())}") from None
    return store


def _kubeconfig(args: argparse.Namespace) -> str:
    """`` (--kubeconfig PATH)`` or `` (KUBECONFIG PATHS)`` for messages; _StoreError when it names no
    file: the client would say "Invalid kube-config file. Expected key current-context", naming neither."""
    if args.kubeconfig:
        name, paths = "--kubeconfig", [args.kubeconfig]
    elif os.environ.get("KUBECONFIG"):  # a list, of which the client skips the paths that do not exist
        name, paths = "KUBECONFIG", os.environ["KUBECONFIG"].split(os.pathsep)
    else:
        return ""  # in-cluster, else ~/.kube/config
    given = os.pathsep.join(paths)
    if not any(os.path.isfile(path) for path in paths):
        why = "is not a file" if all(os.path.exists(path) for path in paths) else "no such file"
        raise _StoreError(f"{name} {given}: {why}")
    return f" ({name} {given})"


async def _replay_cluster(args: argparse.Namespace, chosen: list[Letter]) -> int:
    store = await _store(args)
    try:
        for letter in chosen:
            await store.request_replay(letter.name)
    except Exception as exc:
        raise _StoreError(_api_problem(args, exc)) from None
    names = {letter.name for letter in chosen}
    print(f"{len(names)} letter(s) marked {REQUESTED}: the dead-letters sink in {args.namespace} replays them")
    if args.wait == 0:
        return 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.wait
    while True:
        try:
            pending = {x.name for x in await store.letters(REQUESTED)} & names
        except Exception as exc:
            raise _StoreError(_api_problem(args, exc)) from None
        if not pending:
            for letter in chosen:
                print(f"{letter.name}: replayed {letter.event_type} {letter.event_id}")
            return 0
        if loop.time() > deadline:
            return fail(f"not replayed within {args.wait:g}s: {', '.join(sorted(pending))} (is the dead-letters "
                        f"Service of {args.namespace} running? `kubectl -n {args.namespace} logs -l "
                        "app.kubernetes.io/component=dead-letter`)")
        await asyncio.sleep(0.2)


def _api_problem(args: argparse.Namespace, exc: Exception) -> str:
    status = getattr(exc, "status", None)
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, ValueError):  # the client's json.loads: whatever answered is no Kubernetes API
        message = f"the cluster's answer is not JSON, is the kubeconfig's server a Kubernetes API? ({message})"
    if status == 403:
        return f"forbidden in namespace {args.namespace}: {message} (you need list and patch on configmaps there)"
    return f"dead letters in namespace {args.namespace}: {message}"


def _where(args: argparse.Namespace) -> str:
    return str(args.local) if args.local is not None else f"namespace {args.namespace}"
