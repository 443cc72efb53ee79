"""CloudEvents over HTTP as the Broker handles them: decoding either mode, attribute text for
filters, and the extensions a Broker adds or strips."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from tekton_dag.events import codec
from tekton_dag.events.catalog import EXT_BROKER_TTL


def attribute_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def without_ttl(event: BaseCloudEvent) -> BaseCloudEvent:
    """``event`` without the Broker's TTL extension (itself when it has none: no copy)."""
    if EXT_BROKER_TTL not in event.get_attributes():
        return event
    attributes = {k: v for k, v in event.get_attributes().items() if k != EXT_BROKER_TTL}
    return type(event)(attributes, event.get_data())  # of its own spec version


def with_extensions(event: BaseCloudEvent, **extensions: Any) -> BaseCloudEvent:
    return type(event)({**event.get_attributes(), **extensions}, event.get_data())


def decode_event(headers: Mapping[str, str], body: bytes) -> BaseCloudEvent:
    """A CloudEvent from an HTTP message in binary or structured mode, of spec version 1.0 or 0.3
    as cloudevents/sdk-go reads them for Knative's ingress and filter (``codec.decode_any_version``;
    each is forwarded in its own version); ValueError otherwise, also for whatever else the SDK
    raises on malformed input: the Broker answers a sender 400, never a 500."""
    try:
        return codec.decode_any_version(headers, body)
    except codec.EventDecodeError:
        raise
    except Exception as exc:  # the SDK raises more types than codec names
        raise ValueError(f"not a CloudEvent: {exc}") from None
