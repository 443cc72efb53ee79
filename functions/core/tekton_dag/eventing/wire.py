"""CloudEvents over HTTP as the Broker handles them: decoding either mode, attribute text for
filters, and the extensions a Broker adds or strips."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.events.catalog import EXT_BROKER_TTL


def attribute_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def without_ttl(event: CloudEvent) -> CloudEvent:
    """``event`` without the Broker's TTL extension (itself when it has none: no copy)."""
    if EXT_BROKER_TTL not in event.get_attributes():
        return event
    attributes = {k: v for k, v in event.get_attributes().items() if k != EXT_BROKER_TTL}
    return CloudEvent(attributes, event.get_data())


def with_extensions(event: CloudEvent, **extensions: Any) -> CloudEvent:
    return CloudEvent({**event.get_attributes(), **extensions}, event.get_data())


def decode_event(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """A CloudEvent from an HTTP message in binary or structured mode; ValueError otherwise."""
    try:
        event = from_http_event(HTTPMessage({k.lower(): v for k, v in headers.items()}, body))
        if not isinstance(event, CloudEvent):  # another spec version (0.3): refused here, not a 500 later
            event = CloudEvent(dict(event.get_attributes()), event.get_data())
    except Exception as exc:  # the SDK raises several types for malformed input
        raise ValueError(f"not a CloudEvent: {exc}") from None
    return event
