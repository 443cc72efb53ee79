"""Deterministic PipelineRun names and safe label values.

A name derives only from what makes a request unique, so a Broker redelivery or a GitHub
redelivery of the same request yields the same name and the API answers 409 AlreadyExists
(which the run-creator counts as success). Names are DNS-1123 labels of at most 63 characters:
a readable prefix (stack, app, kind of run) and a 10-hex-digit hash of the identity.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tekton_dag import pipelines

if TYPE_CHECKING:  # annotations only: a function that only names runs need not make the requests' dataclasses
    from tekton_dag.events.requests import RunRequest

MAX_NAME = 63
HASH_LENGTH = 10
_KIND = {pipelines.PR_TEST: "pr", pipelines.MERGE_RELEASE: "merge", pipelines.BOOTSTRAP: "boot"}
_INVALID_NAME_CHARS = re.compile(r"[^a-z0-9-]+")
_INVALID_LABEL_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def identity(request: RunRequest) -> tuple[str, ...]:
    """What makes a request unique: the parts its name is hashed from.

    GitHub-driven PR runs are identified by PR number and head sha, merge runs by the merge
    revision. Manual and bootstrap requests (and GitHub requests lacking both) use the delivery
    id, so a deliberate re-run by hand gets a new name while a redelivery does not.

    A merge queue's group is identified by its head ref and head sha, whichever delivery asked (a
    new group has a new ref and sha). A re-run GitHub asked for (``rerun``: the Re-run button's or
    the ``/retest`` comment's delivery id) is identified by that id instead of the head: a new
    PipelineRun per press or comment, the same one for a redelivery of it (even when the PR moved
    on in between and the redelivery found a newer head).
    """
    base = (request.team, request.pipeline, request.stack, request.app)
    if request.merge_group:
        return (*base, f"merge-group={request.merge_group}", f"sha={request.revision}")
    if request.requested_by == "github":
        if request.pipeline == pipelines.PR_TEST and request.pr is not None:
            if request.rerun:
                return (*base, f"pr={request.pr.number}", f"rerun={request.rerun}")
            return (*base, f"pr={request.pr.number}", f"sha={request.pr.head_sha}")
        if request.pipeline == pipelines.MERGE_RELEASE and request.revision:
            return (*base, f"rev={request.revision}")
    return (*base, f"delivery={request.delivery}")


def run_name(request: RunRequest, again: str = "") -> str:
    """The PipelineRun name of ``request`` (same request, same name). ``again``: the delivery
    that asks for a head whose run was stopped (a reopened pull request, a push back to an
    earlier head): a run of its own, the same one for a redelivery of that delivery."""
    kind = _KIND[request.pipeline]
    if request.pipeline == pipelines.PR_TEST and request.pr is not None:
        kind = f"mq{request.pr.number}" if request.merge_group else f"pr{request.pr.number}"
    readable = "-".join(part for part in (request.stack, request.app, kind) if part)
    return dns_name(readable, (*identity(request), f"again={again}") if again else identity(request))


def dns_name(readable: str, parts: Iterable[str]) -> str:
    """``<readable prefix>-<hash of parts>``, a DNS-1123 label of at most 63 characters."""
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:HASH_LENGTH]
    prefix = _INVALID_NAME_CHARS.sub("-", readable.lower()).strip("-")
    prefix = prefix[: MAX_NAME - HASH_LENGTH - 1].rstrip("-")
    return f"{prefix}-{digest}" if prefix else f"run-{digest}"


def label_value(value: str) -> str:
    """``value`` made a valid label value (≤ 63 chars of ``[A-Za-z0-9._-]``, alphanumeric ends).

    Values that had to change get a short hash so two different inputs stay different.
    """
    cleaned = _INVALID_LABEL_CHARS.sub("-", value).strip("-_.")
    if cleaned == value and len(value) <= MAX_NAME:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"{cleaned[: MAX_NAME - 9].rstrip('-_.')}-{digest}".lstrip("-")
