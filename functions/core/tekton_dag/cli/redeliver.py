"""`tekton-dag redeliver --since DURATION`: ask GitHub to redeliver the webhooks it failed to deliver.

Lists the deliveries of the App's webhook (default; needs ``GITHUB_APP_ID`` and
``GITHUB_APP_PRIVATE_KEY_FILE``) or of a repository webhook (``--repo owner/name --hook-id ID``;
needs ``GITHUB_TOKEN_FILE``, a token allowed to read the repository's webhooks) from the last
DURATION, and redelivers each event (guid) that no delivery got through, once
(``tekton_dag.github.deliveries``). ``--dry-run`` lists what it would redeliver. Exit 0 when every
redelivery was accepted (or nothing needed one), 1 otherwise. Docs: docs/github.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
from typing import Any

from tekton_dag.cli.common import add_output_option, emit, fail, usage_error, whole_number
from tekton_dag.config.validation import GITHUB_REPO

# re.ASCII: \d alone would take any Unicode digit (an Arabic-Indic six), which float() reads.
_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>[smhd])", re.ASCII)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """An argparse ``type``: ``90s``, ``30m``, ``6h``, ``3d`` (at most 3 days: what GitHub keeps)."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number and a unit s, m, h or d (e.g. 6h)")
    seconds = float(found["value"]) * _UNIT_S[found["unit"]]
    if not 0 < seconds <= 3 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0 and at most 3d (GitHub keeps 3 days)")
    return seconds


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "redeliver",
        help="redeliver the GitHub webhooks that failed (App or repository hook)",
        description="List the failed deliveries of the GitHub App's webhook (or of a repository webhook) "
        "since DURATION ago and ask GitHub to redeliver each event once. Configuration: GITHUB_API_URL, "
        "GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY_FILE, GITHUB_TOKEN_FILE (docs/github.md).",
    )
    parser.add_argument("--since", type=duration, required=True, metavar="DURATION",
                        help="how far back to look: 90s, 30m, 6h, 3d (at most 3d)")
    parser.add_argument("--repo", metavar="OWNER/NAME", help="a repository webhook's repository (with --hook-id)")
    parser.add_argument("--hook-id", type=whole_number(1), metavar="ID",
                        help="the repository webhook's id (with --repo)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be redelivered; change nothing")
    add_output_option(parser)
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    if (args.repo is None) != (args.hook_id is None):
        usage_error(args.parser, "--repo and --hook-id go together (a repository webhook); give neither for the App's")
    # GitHub's own rule (the one stack files are held to): "../.." passed the earlier pattern and
    # took the API path elsewhere (GET /repos/../../hooks/ID/deliveries).
    if args.repo is not None and not GITHUB_REPO.fullmatch(args.repo):
        usage_error(args.parser, f"--repo {args.repo!r}: expected owner/name")
    from tekton_dag.github.settings import SettingsError  # imported here: `serve` shares this parser

    try:
        return asyncio.run(_redeliver(args))
    except SettingsError as exc:
        return fail(str(exc))


async def _redeliver(args: argparse.Namespace) -> int:
    from tekton_dag.github import deliveries
    from tekton_dag.github.client import Client
    from tekton_dag.github.port import GitHubError, Repo

    client = Client.from_env(os.environ)
    if client is None:
        return fail("no GitHub access configured: set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_FILE "
                    "(the App's webhook) or GITHUB_TOKEN_FILE (a repository webhook); see docs/github.md")
    hook = deliveries.Hook()
    if args.repo is not None:
        owner, name = args.repo.split("/")
        hook = deliveries.Hook(Repo(owner, name), args.hook_id)
    try:
        found = await deliveries.recent(client, hook, time.time() - args.since)
        chosen, skipped = deliveries.plan(found)
        results: list[dict[str, Any]] = []
        failures = 0
        for delivery in chosen:
            outcome = "would redeliver" if args.dry_run else "redelivered"
            if not args.dry_run:
                try:
                    await deliveries.redeliver(client, hook, delivery)
                except GitHubError as exc:
                    outcome, failures = f"failed: {exc}", failures + 1
            results.append(_row(delivery, outcome))
        results += [_row(d, "skipped: delivered later") for d in skipped]
    except GitHubError as exc:
        return fail(f"{hook.describe()}: {exc}")
    finally:
        await client.aclose()
    summary = {"hook": hook.describe(), "deliveries": len(found), "failedEvents": len(chosen) + len(skipped),
               "redelivered": 0 if args.dry_run else len(chosen) - failures, "skipped": len(skipped),
               "failed": failures, "dryRun": args.dry_run, "items": results}
    emit(summary, args.output, ("DELIVERY", "GUID", "EVENT", "STATUS", "OUTCOME"),
         [(r["id"], r["guid"], r["event"], r["statusCode"], r["outcome"]) for r in results])
    if args.output == "table":
        verb = "would redeliver" if args.dry_run else "redelivered"
        print(f"{hook.describe()}: {len(found)} deliveries, {len(chosen) + len(skipped)} failed events: "
              f"{verb} {len(chosen) - failures}, skipped {len(skipped)} (delivered later), {failures} failed")
    return 1 if failures else 0


def _row(delivery: Any, outcome: str) -> dict[str, Any]:
    event = delivery.event + (f".{delivery.action}" if delivery.action else "")
    return {"id": delivery.id, "guid": delivery.guid, "event": event, "statusCode": delivery.status_code,
            "outcome": outcome}
