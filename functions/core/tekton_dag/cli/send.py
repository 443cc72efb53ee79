"""`tekton-dag send KIND REPO`: send a realistic, correctly signed GitHub webhook and show the answer.

The secret is ``--secret``, else the first of ``GITHUB_WEBHOOK_SECRET`` (comma-separated for
rotation), else the file named by ``GITHUB_WEBHOOK_SECRET_FILE``. Exit 0 when the receiver
answered 2xx, 1 otherwise (including when it cannot be reached).
"""

from __future__ import annotations

import argparse
import os
import sys

from tekton_dag.devchain import samples
from tekton_dag.cli.common import fail, positive_seconds

DEFAULT_URL = "http://127.0.0.1:8080/webhook/github"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "send",
        help="send a signed sample GitHub webhook (pull_request, push, ping)",
        description="Build a realistic GitHub webhook for REPO, sign it like GitHub does, send it and print the answer.",
    )
    parser.add_argument("kind", metavar="KIND", choices=samples.KINDS,
                        help=f"one of: {', '.join(samples.KINDS)}")
    parser.add_argument("repo", metavar="REPO", help="owner/name, e.g. jmjava/tekton-dag-vue-fe")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"where to send it (default: {DEFAULT_URL})")
    parser.add_argument("--secret", help="webhook secret (default: $GITHUB_WEBHOOK_SECRET or $GITHUB_WEBHOOK_SECRET_FILE)")
    parser.add_argument("--number", type=int, default=1, help="pull request number (default: 1)")
    parser.add_argument("--branch", default="feature/demo", help="PR head branch (default: feature/demo)")
    parser.add_argument("--base", default="main", help="PR base branch, or the pushed branch (default: main)")
    parser.add_argument("--sha", default="", help="head commit SHA (default: derived from repo, branch, number)")
    parser.add_argument("--sender", default="octocat", help="GitHub login of the sender (default: octocat)")
    parser.add_argument("--delivery", help="X-GitHub-Delivery id (default: a new UUID; repeat one to redeliver)")
    parser.add_argument("--print", dest="print_only", action="store_true",
                        help="print the request instead of sending it")
    parser.add_argument("--timeout", type=positive_seconds, default=10.0, help="seconds to wait for the answer (default: 10)")
    parser.set_defaults(run=run)


def secret_from_env(env: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """The signing secret a receiver started with the same environment would accept."""
    listed = [s.strip() for s in env.get("GITHUB_WEBHOOK_SECRET", "").split(",") if s.strip()]
    if listed:
        return listed[0]
    path = env.get("GITHUB_WEBHOOK_SECRET_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip() or None
        except OSError:
            return None
    return None


def run(args: argparse.Namespace) -> int:
    secret = args.secret or secret_from_env()
    if not secret:
        return fail("no webhook secret: pass --secret or set GITHUB_WEBHOOK_SECRET (the one the receiver uses)")
    sample = samples.Sample(args.kind, args.repo, number=args.number, branch=args.branch, base=args.base,
                                   sha=args.sha, sender=args.sender)
    try:
        delivery = samples.build(sample, secret, args.delivery)
    except ValueError as exc:
        return fail(str(exc))
    if args.print_only:
        print(f"POST {args.url}")
        for name, value in delivery.headers.items():
            print(f"{name}: {value}")
        print()
        print(delivery.body.decode())
        return 0
    import httpx  # imported here: the CLI's parser is shared with `serve`, whose cold start counts

    try:
        response = httpx.post(args.url, headers=delivery.headers, content=delivery.body, timeout=args.timeout)
    except httpx.HTTPError as exc:
        return fail(f"could not reach {args.url}: {exc.__class__.__name__}: {exc}")
    print(f"{args.kind} {args.repo} delivery {delivery.delivery_id} → {response.status_code} {response.reason_phrase}")
    if response.text.strip():
        print(response.text.strip())
    if not response.is_success:
        print(f"tekton-dag: error: {args.url} answered {response.status_code}", file=sys.stderr)
        return 1
    return 0
