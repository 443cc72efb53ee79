"""From one HTTP delivery to what webhook-ingest answers and publishes, without any I/O.

Checks run cheapest and safest first, and the body is parsed only after its signature matched:

1. ``X-GitHub-Event`` / ``X-GitHub-Delivery`` present, else 400 (what a webhook must carry);
2. a GitHub content type (``application/json`` or ``application/x-www-form-urlencoded``), else 415;
3. ``X-Hub-Signature-256`` matches one active secret, else 401 (one message for every cause);
4. the body decodes and has the fields we use, each within what GitHub sends (PR number, shas,
   refs, owner/name: the slim event's schema, ``events/github.py``), else 400 naming the field;
5. ``ping`` → 200; ``pull_request`` (acted-on actions), ``push``, ``issue_comment`` (a command on a
   PR), ``check_run`` / ``check_suite`` (``rerequested``) and ``merge_group`` (``checks_requested``,
   ``destroyed``) → a CloudEvent to publish (the caller answers 202 once the Broker took it);
   anything else → 202 "ignored" with the reason (``events.github.ignored_reason``).

Method, path and size (405/404/413) are the HTTP adapter's job.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cloudevents.core.v1.event import CloudEvent

from tekton_dag.events import codec, github
from tekton_dag.syntax import json_value
from tekton_dag.webhooks import signatures
from tekton_dag.webhooks.secrets import SHARED

MAX_BODY_BYTES: Final = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
JSON_TYPES: Final = ("application/json", "application/vnd.github+json")
FORM_TYPE: Final = "application/x-www-form-urlencoded"
NOT_A_WEBHOOK: Final = (
    "not a GitHub webhook: expected a POST with headers X-GitHub-Event, X-GitHub-Delivery and "
    "X-Hub-Signature-256 (sha256 HMAC of the body) and a JSON or form-encoded GitHub payload; "
    "to start a run by hand use POST /api/run (docs/functions.md)"
)
BAD_SIGNATURE: Final = "signature missing or not valid"
# The headers a delivery is read by: each must come once (the HTTP adapter refuses a repeated one).
SINGLE_HEADERS: Final = ("x-github-event", "x-github-delivery", "x-hub-signature-256", "content-type")
_DELIVERY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


@dataclass(frozen=True)
class Outcome:
    """The answer to one delivery; ``event`` is set when it must be published first."""

    status: int
    body: dict[str, Any]
    event: CloudEvent | None = field(default=None, compare=False)


def reject(status: int, reason: str) -> Outcome:
    return Outcome(status, {"status": "rejected", "reason": reason})


def receive(headers: Mapping[str, str], body: bytes, secrets: Iterable[tuple[str, str]], received: str = "") -> Outcome:
    """Decide what to do with one delivery. ``headers`` must have lower-case names; ``received``
    (RFC 3339) is stamped on the event as ``tektondagreceived``."""
    name, delivery = headers.get("x-github-event", ""), headers.get("x-github-delivery", "")
    if not name:
        return reject(400, NOT_A_WEBHOOK)
    if not _DELIVERY.fullmatch(delivery):
        return reject(400, "X-GitHub-Delivery: missing or not a delivery id (letters, digits, '-', '.', '_')")
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (*JSON_TYPES, FORM_TYPE):
        return reject(415, f"Content-Type: expected application/json or {FORM_TYPE}, got {media_type or 'none'!r}")
    owner = signatures.matching_owner(body, headers.get("x-hub-signature-256"), secrets)
    if owner is None:
        return reject(401, BAD_SIGNATURE)
    try:
        payload = _decode(body, media_type)
    except ValueError as exc:
        return reject(400, f"body: {exc}")
    return route(name, delivery, payload, signed_for="" if owner == SHARED else owner,
                 traceparent=headers.get("traceparent", ""), received=received)


def route(name: str, delivery: str, payload: Any, *, signed_for: str = "", traceparent: str = "",
          received: str = "") -> Outcome:
    """Steps 4-5 for a decoded, verified payload (``tekton-dag resolve --payload`` previews with it)."""
    if name == github.PING:
        return Outcome(200, {"status": "pong", "delivery": delivery})
    if name not in github.CLOUDEVENT_TYPES:
        return _ignored(delivery, f"event {name!r} is not handled (only {', '.join(github.CLOUDEVENT_TYPES)})")
    reason = github.ignored_reason(name, payload)
    if reason is not None:
        return _ignored(delivery, reason)
    try:
        event = github.parse_payload(name, delivery, payload)
    except github.PayloadError as exc:
        return reject(400, f"{name} payload: {exc}")
    cloudevent = codec.github_event(
        event, signed_for=signed_for, traceparent=traceparent if _TRACEPARENT.fullmatch(traceparent) else "",
        received=received,
    )
    body = {"status": "accepted", "delivery": delivery, "type": event.cloudevent_type, "repo": event.repo}
    return Outcome(202, body, cloudevent)


def _ignored(delivery: str, reason: str) -> Outcome:
    return Outcome(202, {"status": "ignored", "delivery": delivery, "reason": reason})


def _decode(body: bytes, media_type: str) -> Any:
    """The JSON payload of a JSON or form-encoded delivery; ValueError says what is wrong."""
    if media_type == FORM_TYPE:
        try:
            fields = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise ValueError("not UTF-8 text") from None
        if len(fields.get("payload", ())) != 1:
            raise ValueError("form body must have exactly one 'payload' field")
        return json_value(fields["payload"][0])
    return json_value(body)
