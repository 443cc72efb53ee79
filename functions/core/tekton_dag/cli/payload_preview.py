"""`tekton-dag resolve --payload payload.json`: what a saved webhook body would do, sending nothing.

webhook-ingest's own steps (``webhooks.intake.route``: ignored actions, the slim event of
``events.github``), the resolver's reading of that event back (``GitHubEvent.from_data``), then
``resolution.resolve`` against the configuration's index, exactly as the chain decides.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from tekton_dag import resolution
from tekton_dag.checks import commands
from tekton_dag.cli.common import camel_keys, emit, fail
from tekton_dag.cli.send import read_payload
from tekton_dag.config.index import ResolverIndex
from tekton_dag.config.models import Config
from tekton_dag.events import catalog, github
from tekton_dag.events.requests import CancelRequest, CommandRequest, RunRequest
from tekton_dag.webhooks import intake

OUTCOMES = {RunRequest: catalog.RUN_REQUESTED, CancelRequest: catalog.RUN_CANCEL_REQUESTED,
            CommandRequest: catalog.COMMAND_REQUESTED}


def preview(args: argparse.Namespace, config: Config) -> int:
    """What ``--payload`` would make happen. Exit 0 when it starts or cancels something, 1 when
    webhook-ingest would ignore or refuse it, or nothing in the configuration wants it."""
    try:
        _, payload = read_payload(args.payload)
    except ValueError as exc:
        return fail(str(exc))
    name = args.event or github.infer_event(payload)
    if not name:
        return fail(
            f"{args.payload}: cannot tell which GitHub event this is: pass --event NAME (e.g. pull_request, push)"
        )
    outcome = intake.route(name, args.delivery, payload)
    result: dict[str, Any] = {
        "event": name,
        "delivery": args.delivery,
        "ingest": {"code": outcome.status, **outcome.body},
        "decisions": [],
    }
    if outcome.event is not None:
        event = github.GitHubEvent.from_data(outcome.event.get_type(), args.delivery, outcome.event.get_data())
        index = ResolverIndex.from_config(config)
        decided = resolution.resolve(event, index, parse_command=commands.parse)
        result["decisions"] = [_decision(d) for d in decided]
    emit(
        camel_keys(result),
        args.output,
        headers=("OUTCOME", "TEAM", "STACK", "APP", "PIPELINE", "DETAIL"),
        rows=_rows(result),
    )
    acted = [d for d in result["decisions"] if d["type"] != catalog.EVENT_IGNORED]
    if acted:
        return 0
    why = (
        outcome.body.get("reason") or "; ".join(d["reason"] for d in result["decisions"]) or outcome.body.get("status")
    )
    return fail(f"{args.payload}: nothing would run: {why}")


def _decision(decision: resolution.Decision) -> dict[str, Any]:
    outcome = decision.outcome
    kind = OUTCOMES.get(type(outcome), catalog.EVENT_IGNORED)
    return {"type": kind, "id": decision.event_id, **dataclasses.asdict(outcome)}


def _rows(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    if not result["decisions"]:
        ingest = result["ingest"]
        return [(f"webhook-ingest {ingest['code']}", "", "", "", "", ingest.get("reason") or ingest.get("status"))]
    rows = []
    for d in result["decisions"]:
        what = d["type"].removeprefix(f"{catalog.PREFIX}.").removesuffix(".v1")
        if d["type"] == catalog.RUN_REQUESTED:
            detail = f"revision {d['revision']}" + (f", PR #{d['pr']['number']}" if d.get("pr") else "")
        elif d["type"] == catalog.RUN_CANCEL_REQUESTED:
            detail = f"PR #{d['pr_number']}: {d['reason']}"
        elif d["type"] == catalog.COMMAND_REQUESTED:
            detail = f"PR #{d['pr_number']}: {d['command']} by {d['user']}" + (f": {d['error']}" if d["error"] else "")
        else:
            detail = d["reason"]
        rows.append((what, d.get("team", ""), d.get("stack", ""), d.get("app", ""), d.get("pipeline", ""), detail))
    return rows
