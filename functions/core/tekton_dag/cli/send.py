"""`tekton-dag send KIND REPO`: send a realistic, correctly signed GitHub webhook and show the answer.

`tekton-dag send --file payload.json [--event NAME]` signs and sends a saved body instead, byte for
byte (a payload copied from GitHub's "Recent Deliveries", a fixture); the event name is ``--event``
or inferred from the payload's shape (``events.github.infer_event``).

The secret is ``--secret``, else the first of ``GITHUB_WEBHOOK_SECRET`` (comma-separated for
rotation), else the file named by ``GITHUB_WEBHOOK_SECRET_FILE``. Exit 0 when the receiver
answered 2xx, 1 otherwise (including when it cannot be reached).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tekton_dag.cli.common import fail, http_url, positive_seconds, usage_error, whole_number
from tekton_dag.devchain import samples
from tekton_dag.events import github
from tekton_dag.events.requests import MAX_PR_NUMBER
from tekton_dag.syntax import PAYLOAD_FILE_LIMIT, SECRET_FILE_LIMIT, file_bytes, file_text, json_value

DEFAULT_URL = "http://127.0.0.1:8080/webhook/github"


def header_value(text: str) -> str:
    """An argparse ``type`` for a value sent as an HTTP header: printable ASCII without white space at
    either end, else a usage error (httpx raised UnicodeEncodeError, h11 'Illegal header value')."""
    if not (text and text.isascii() and text.isprintable() and text == text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r}: sent as an HTTP header, it must be printable ASCII "
                                         "without white space at either end")
    return text


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "send",
        help="send a signed sample GitHub webhook (pull_request, push, ping)",
        description=(
            "Build a realistic GitHub webhook for REPO, sign it like GitHub does, send it and print the answer."
        ),
    )
    parser.add_argument("kind", metavar="KIND", nargs="?", choices=samples.KINDS,
                        help=f"one of: {', '.join(samples.KINDS)} (not with --file)")
    parser.add_argument("repo", metavar="REPO", nargs="?", help="owner/name, e.g. jmjava/tekton-dag-vue-fe")
    parser.add_argument("--file", metavar="PAYLOAD.json", type=Path,
                        help="send this saved webhook body instead of a sample (signed as is)")
    parser.add_argument("--event", metavar="NAME", type=header_value,
                        help="X-GitHub-Event of --file (default: inferred from the payload: pull_request, push, ping)")
    parser.add_argument("--url", type=http_url, default=DEFAULT_URL, help=f"where to send it (default: {DEFAULT_URL})")
    parser.add_argument(
        "--secret", help="webhook secret (default: $GITHUB_WEBHOOK_SECRET or $GITHUB_WEBHOOK_SECRET_FILE)"
    )
    parser.add_argument("--number", type=whole_number(1, MAX_PR_NUMBER), default=1,
                        help="pull request number (default: 1)")
    parser.add_argument("--branch", default="feature/demo", help="PR head branch (default: feature/demo)")
    parser.add_argument("--base", default="main", help="PR base branch, or the pushed branch (default: main)")
    parser.add_argument("--sha", default="", help="head commit SHA (default: derived from repo, branch, number)")
    parser.add_argument("--sender", default="octocat", help="GitHub login of the sender (default: octocat)")
    parser.add_argument("--installation", type=whole_number(), default=0, metavar="ID",
                        help="send it as a GitHub App's webhook from installation ID (status-reporter then acts as "
                        "that installation; `tekton-dag dev`'s GitHub API double has installation 1); default: a "
                        "repository webhook")
    parser.add_argument("--delivery", type=header_value,
                        help="X-GitHub-Delivery id (default: a new UUID; repeat one to redeliver)")
    parser.add_argument("--print", dest="print_only", action="store_true",
                        help="print the request instead of sending it")
    parser.add_argument(
        "--timeout", type=positive_seconds, default=10.0, help="seconds to wait for the answer (default: 10)"
    )
    parser.set_defaults(run=run, parser=parser)


def secret_from_env(env: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """The signing secret a receiver started with the same environment would accept; None when
    neither variable is set. ValueError when the file is named but unreadable or empty (said as
    such, not as "no secret")."""
    listed = [s.strip() for s in env.get("GITHUB_WEBHOOK_SECRET", "").split(",") if s.strip()]
    if listed:
        return listed[0]
    path = env.get("GITHUB_WEBHOOK_SECRET_FILE")
    if not path:
        return None
    try:
        secret = file_text(path, SECRET_FILE_LIMIT).strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
        raise ValueError(f"GITHUB_WEBHOOK_SECRET_FILE {path}: cannot read it ({reason})") from None
    if not secret:
        raise ValueError(f"GITHUB_WEBHOOK_SECRET_FILE {path} is empty")
    return secret


def run(args: argparse.Namespace) -> int:
    if args.file is not None and (args.kind or args.repo):
        usage_error(args.parser, "KIND and REPO build a sample; --file sends a saved body: give one or the other")
    if args.file is None and not (args.kind and args.repo):
        usage_error(args.parser, "KIND and REPO are required (or --file PAYLOAD.json)")
    if args.event is not None and args.file is None:
        usage_error(args.parser, "--event goes with --file (a sample's event is its KIND)")
    try:
        secret = args.secret or secret_from_env()
    except ValueError as exc:
        return fail(str(exc))
    if not secret:
        return fail("no webhook secret: pass --secret or set GITHUB_WEBHOOK_SECRET (the one the receiver uses)")
    try:
        delivery = _from_file(args, secret) if args.file is not None else _sample(args, secret)
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
    what = f"{args.kind} {args.repo}" if args.file is None else f"{delivery.event} {args.file}"
    print(f"{what} delivery {delivery.delivery_id} → {response.status_code} {response.reason_phrase}")
    if response.text.strip():
        print(response.text.strip())
    if not response.is_success:
        print(f"tekton-dag: error: {args.url} answered {response.status_code}", file=sys.stderr)
        return 1
    return 0


def _sample(args: argparse.Namespace, secret: str) -> samples.Delivery:
    sample = samples.Sample(
        args.kind, args.repo, number=args.number, branch=args.branch, base=args.base, sha=args.sha, sender=args.sender,
        installation=args.installation,
    )
    return samples.build(sample, secret, args.delivery)


def _from_file(args: argparse.Namespace, secret: str) -> samples.Delivery:
    """The saved body, signed as is; ValueError names the file and what is wrong."""
    body, payload = read_payload(args.file)
    if isinstance(payload, dict) and {"headers", "payload"} <= payload.keys() and "repository" not in payload:
        # @octokit/webhooks-examples (and our fixtures) record a delivery as {headers, payload}; GitHub
        # sends only the payload, so signing the wrapper would send a body no handler recognises.
        raise ValueError(f"{args.file}: a recorded delivery ({{headers, payload}}), not a webhook body: "
                         f"send its payload alone (jq .payload {args.file} > body.json), "
                         f"with --event from its headers' X-GitHub-Event")
    event = args.event or github.infer_event(payload)
    if not event:
        raise ValueError(
            f"{args.file}: cannot tell which GitHub event this is: pass --event NAME (e.g. pull_request, push)"
        )
    repository = payload.get("repository") if isinstance(payload, dict) else None
    repo = repository.get("full_name", "") if isinstance(repository, dict) else ""
    return samples.signed(event, body, secret, args.delivery, str(repo))


def read_payload(path: Path) -> tuple[bytes, Any]:
    """The bytes of a saved webhook body and its JSON; ValueError names the file and the problem."""
    try:
        body = file_bytes(path, PAYLOAD_FILE_LIMIT)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return body, json_value(body)  # as webhook-ingest reads it (webhooks.intake)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
