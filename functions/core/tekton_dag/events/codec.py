"""Build and read this system's CloudEvents (cloudevents 2.x core API).

Every event gets its attributes here, from the catalog: ``subject`` and ``partitionkey`` are the
``owner/repo`` the event is about (the Kafka Broker orders per partition key), ``team`` names the
team an event is for, ``traceparent`` carries the W3C trace context when the input had one. An
event that answers another (``following``) keeps its cause's trace, delivery and partition key.
Events go out in binary mode (``eventing.publishing``); ``decode`` accepts binary and structured,
and ``data`` is the one place an event's data is read as JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.exceptions import CloudEventValidationError
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.events import catalog
from tekton_dag.syntax import json_value

if TYPE_CHECKING:  # their dataclasses take ~15 ms to make: imported by the functions that build them
    from tekton_dag.events.github import GitHubEvent
    from tekton_dag.events.requests import BootstrapRequest, CancelRequest, CommandRequest, RunRequest

JSON = "application/json"


class EventDecodeError(ValueError):
    """An HTTP message that is not a valid CloudEvent."""


def build(
    event_type: str,
    source: str,
    event_id: str,
    data: Mapping[str, Any],
    *,
    subject: str = "",
    team: str = "",
    traceparent: str = "",
    partition_key: str | None = None,
    extensions: Mapping[str, str] | None = None,
) -> CloudEvent:
    """A CloudEvent with JSON ``data``; empty optional attributes are left out. The partition key
    is the subject unless given (a reply about a PipelineRun stays in its repository's partition)."""
    attributes: dict[str, Any] = {
        "type": event_type,
        "source": source,
        "id": event_id,
        "datacontenttype": JSON,
        **(extensions or {}),
    }
    if subject:
        attributes["subject"] = subject
    key = subject if partition_key is None else partition_key
    if key:
        attributes[catalog.EXT_PARTITION_KEY] = key
    if team:
        attributes[catalog.EXT_TEAM] = team
    if traceparent:
        attributes[catalog.EXT_TRACEPARENT] = traceparent
    return CloudEvent(attributes=attributes, data=dict(data))


def github_event(event: GitHubEvent, *, signed_for: str = "", traceparent: str = "", received: str = "") -> CloudEvent:
    """The event webhook-ingest publishes: id = X-GitHub-Delivery, data = the slim payload.

    ``signed_for`` is set (as the ``team`` extension) when the delivery was verified with a team's
    own webhook secret: the resolver then starts runs for that team only (docs/functions.md).
    """
    return build(
        event.cloudevent_type,
        catalog.SOURCE_WEBHOOK_INGEST,
        event.delivery,
        event.to_data(),
        subject=event.repo,
        team=signed_for,
        traceparent=traceparent,
        extensions={catalog.EXT_GITHUB_DELIVERY: event.delivery, catalog.EXT_GITHUB_EVENT: event.name,
                    **({catalog.EXT_RECEIVED: received} if received else {}),
                    **({catalog.EXT_OUTDATED: "true"} if event.rerun and event.rerun.newer_head_sha else {})},
    )


def request_event(
    request: RunRequest | CancelRequest | BootstrapRequest | CommandRequest,
    source: str,
    event_id: str,
    *,
    repo: str = "",
    github_delivery: str = "",
    traceparent: str = "",
    received: str = "",
) -> CloudEvent:
    """A run.requested / run.cancel.requested / bootstrap.requested / command.requested event for ``request``;
    ``received`` is the ``tektondagreceived`` time of the request it came from."""
    from tekton_dag.events import requests  # imported already: the caller made ``request``

    event_type = {
        requests.RunRequest: catalog.RUN_REQUESTED,
        requests.CancelRequest: catalog.RUN_CANCEL_REQUESTED,
        requests.BootstrapRequest: catalog.BOOTSTRAP_REQUESTED,
        requests.CommandRequest: catalog.COMMAND_REQUESTED,
    }[type(request)]
    return build(
        event_type,
        source,
        event_id,
        request.to_data(),
        subject=repo,
        team=request.team,
        traceparent=traceparent,
        extensions={
            **({catalog.EXT_GITHUB_DELIVERY: github_delivery} if github_delivery else {}),
            **({catalog.EXT_RECEIVED: received} if received else {}),
        },
    )


def following(
    cause: CloudEvent,
    event_type: str,
    source: str,
    event_id: str,
    data: Mapping[str, Any],
    *,
    subject: str = "",
    team: str = "",
    extensions: Mapping[str, str] | None = None,
) -> CloudEvent:
    """An event caused by ``cause`` (a reply, or a request derived from it): it carries the cause's
    ``traceparent``, GitHub delivery id and partition key, so one webhook's events stay traceable
    and ordered together; ``extensions`` are the event's own."""
    delivery = extension(cause, catalog.EXT_GITHUB_DELIVERY)
    own = {**({catalog.EXT_GITHUB_DELIVERY: delivery} if delivery else {}), **(extensions or {})}
    return build(
        event_type, source, event_id, data,
        subject=subject, team=team, traceparent=extension(cause, catalog.EXT_TRACEPARENT),
        partition_key=extension(cause, catalog.EXT_PARTITION_KEY),
        extensions=own or None,
    )


def data(event: BaseCloudEvent) -> Any:
    """The event's data as JSON values: binary-mode bodies may arrive as text or bytes.
    Raises ``EventDecodeError`` when they are not JSON."""
    value = event.get_data()
    if not isinstance(value, (bytes, str)):
        return value
    try:
        return json_value(value)
    except ValueError as exc:
        raise EventDecodeError(f"data must be a JSON object: {exc}") from None


# The HTTP binding's modes by Content-Type (cloudevents/spec cloudevents/bindings/http-protocol-binding.md
# section 3, matched case-insensitively) and the attributes every event must carry (spec.md "REQUIRED").
STRUCTURED_MEDIA = "application/cloudevents"
STRUCTURED_JSON = "application/cloudevents+json"
BATCH_MEDIA = "application/cloudevents-batch"
REQUIRED = ("specversion", "id", "source", "type")


def readable(headers: Mapping[str, str], body: bytes) -> dict[str, str]:
    """The headers (lower-cased) the SDK is to read an HTTP message by, once it is known to be a
    CloudEvent as Knative's ingress reads one; ``EventDecodeError`` naming what is wrong otherwise.

    The mode is the one Knative's ingress reads (cloudevents/sdk-go v2/protocol/http/message.go
    ``NewMessage``, ``ReadEncoding``; the spec section above): a batch Content-Type is refused (one
    event per request; ``binding.ToEvent`` cannot read one either), an ``application/cloudevents``
    one is structured mode whatever ``ce-`` headers come along (they are dropped), anything else is
    binary mode and only with a ``ce-specversion`` header. The required attributes must have been
    sent: the SDK makes up an ``id`` (and binary mode's ``specversion``) when they are missing, where
    Knative answers 400. The functions' intake (``functions.intake``) asks this before func-python
    decodes.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    media = lowered.get("content-type", "").split(";", 1)[0].strip().lower()
    if media.startswith(BATCH_MEDIA):
        raise EventDecodeError(f"not a CloudEvent: batched mode ({media}) is not accepted; send one event per request")
    if media.startswith(STRUCTURED_MEDIA):
        if media != STRUCTURED_JSON:
            raise EventDecodeError(f"not a CloudEvent: event format {media} is not supported; use {STRUCTURED_JSON}")
        lowered = {"content-type": lowered["content-type"]}  # in structured mode ce- headers are no attributes
        document = _structured_document(body)
        sent, time = set(document), document.get("time")
    elif "ce-specversion" not in lowered:
        raise EventDecodeError(
            f"not a CloudEvent: no ce-specversion header (binary mode), and Content-Type "
            f"{media or '(none)'} is not {STRUCTURED_JSON} (structured mode)"
        )
    else:
        sent, time = {key[3:] for key in lowered if key.startswith("ce-")}, lowered.get("ce-time")
    missing = [name for name in REQUIRED if name not in sent]
    if missing:
        mode = "structured" if media.startswith(STRUCTURED_MEDIA) else "binary"
        raise EventDecodeError(f"not a CloudEvent: required attribute {', '.join(missing)} missing ({mode} mode)")
    # The SDK refuses a bad time too, but says only "Expected 4 digits, got 'yest'", naming no attribute.
    if time is not None and not (isinstance(time, str) and _RFC3339.fullmatch(time)):
        raise EventDecodeError(f"not a CloudEvent: time: {str(time)[:40]!r} is not an RFC 3339 timestamp")
    return lowered


# RFC 3339 section 5.6 date-time, as sdk-go reads it (time.RFC3339Nano; CloudEvents spec.md "Timestamp").
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def decode(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """Read a binary- or structured-mode CloudEvents 1.0 event (``readable`` first); raises
    ``EventDecodeError``."""
    event = decode_any_version(headers, body)
    if not isinstance(event, CloudEvent):  # another spec version, which the SDK reads too
        raise EventDecodeError(f"not a CloudEvents 1.0 event: specversion {event.get_specversion()!r}")
    return event


def decode_any_version(headers: Mapping[str, str], body: bytes) -> BaseCloudEvent:
    """``decode`` for every spec version the SDK reads, 1.0 and 0.3, as cloudevents/sdk-go does
    (v2/binding/spec/spec.go ``VS``): the Broker's reader, which forwards each as it came."""
    return from_readable(readable(headers, body), body)


class _StrictJSONFormat(JSONFormat):
    """The SDK's JSON event format, but binary-mode data said to be JSON is read as every body is
    (``json_value``), and refused (``from_readable``: 400) when it is not: the SDK's own
    ``json.loads`` takes NaN, a byte order mark and a key twice, which no sender's JSON has, and it
    kept data that failed to parse as text, which only a handler that reads the data refused (a
    status-reporter answered 202 to what it ignores). Structured-mode bodies the SDK parses again
    after ``readable`` has read them with ``json_value``."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> Any:
        if not body or not self.JSON_CONTENT_TYPE_PATTERN.match(datacontenttype or self.DEFAULT_CONTENT_TYPE):
            return super().read_data(body, datacontenttype)
        try:
            return json_value(body)
        except ValueError as exc:
            raise ValueError(f"data: {exc}") from None


_FORMAT = _StrictJSONFormat()


def from_readable(lowered: Mapping[str, str], body: bytes) -> BaseCloudEvent:
    """The SDK's event of a message ``readable`` passed (``lowered`` is what it returned);
    ``EventDecodeError`` with the SDK's reason (an invalid attribute or extension name, data it
    cannot read) otherwise."""
    try:
        return from_http_event(HTTPMessage(headers=dict(lowered), body=body), _FORMAT)
    except RecursionError:  # the SDK parses JSON data itself: not a ValueError
        raise EventDecodeError("not a CloudEvent: data: JSON nested too deeply") from None
    except (CloudEventValidationError, ValueError, TypeError, KeyError) as exc:
        reason = str(exc).removeprefix("Failed to create CloudEvent due to the validation errors:: ")
        raise EventDecodeError(f"not a CloudEvent: {reason}") from exc


def _structured_document(body: bytes) -> dict[str, Any]:
    """The JSON object of a structured-mode body."""
    try:
        document = json_value(body)
    except ValueError as exc:
        raise EventDecodeError(f"not a CloudEvent: structured mode body: {exc}") from None
    if not isinstance(document, dict):
        raise EventDecodeError("not a CloudEvent: structured mode body must be a JSON object")
    return document


def extension(event: CloudEvent, name: str) -> str:
    """An extension attribute as a string, "" when absent."""
    value = event.get_extension(name)
    return "" if value is None else str(value)
