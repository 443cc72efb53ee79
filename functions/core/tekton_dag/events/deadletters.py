"""Dead letters: an event a Broker gave up on, what went wrong, and the event to replay.

Knative Eventing adds three extensions to every event it sends to a dead-letter sink
(knative/eventing pkg/channel/attributes/knative_error.go; set in pkg/kncloudevents/
event_dispatcher.go ``dispatchExecutionInfoTransformers``):

- ``knativeerrordest``: the URL of the subscriber that failed (sanitised: no user info);
- ``knativeerrorcode``: the HTTP status of the last attempt; 500 when it got no answer at all
  (``executeRequest``, which then makes the body ``dispatch error: <error>``);
- ``knativeerrordata``: the last response body, base64 (standard alphabet), cut to 1024 encoded
  characters (``KnativeErrorDataExtensionMaxLength``).

Not quite every: behind the MT Broker a subscriber's reply body that is no CloudEvent leaves a
letter with none of them (its filter's empty 502 is no ``ErrExtensionInfo``); such a letter is
read with an empty destination, code and error.

The MT Broker's filter deletes ``knativebrokerttl`` from its own copy before it dispatches to a
subscriber (pkg/broker/filter/filter_handler.go, ``DeleteTTL``), but the channel's dispatcher sends
the dead-letter sink the message it had, as the ingress stamped it, so a dead letter may carry it;
it is dropped here, because the Broker's ingress sets a fresh one on the replay.

A replay is the original event exactly: those extensions are removed and nothing else changes
(id, source, type, data and ``tektondagseal``), so a sealed event still verifies
(``events.sealing``) and a consumer that already acted on that id drops the replay as a duplicate
(deterministic PipelineRun names): replaying twice creates nothing new.

A letter is stored as the event in structured mode (``application/cloudevents+json``), in the
cluster (``kube.deadletters``) and in the local Broker's JSON-lines file (``bus.deadletters``) alike.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Final

from cloudevents.core.bindings.http import HTTPMessage, from_http_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.events.catalog import EXT_BROKER_TTL

EXT_ERROR_DEST: Final = "knativeerrordest"
EXT_ERROR_CODE: Final = "knativeerrorcode"
EXT_ERROR_DATA: Final = "knativeerrordata"
KNATIVE_ADDED: Final = frozenset({EXT_ERROR_DEST, EXT_ERROR_CODE, EXT_ERROR_DATA, EXT_BROKER_TTL})
STRUCTURED: Final = "application/cloudevents+json"

NEW: Final = "new"  # stored, not replayed
REQUESTED: Final = "replay-requested"  # an operator asked for a replay; the sink has not done it yet
REPLAYED: Final = "replayed"
STATES: Final = (NEW, REQUESTED, REPLAYED)


class LetterError(ValueError):
    """A stored letter that cannot be read back (the message says what and where)."""


@dataclass
class Letter:
    """One dead letter. ``name`` identifies it (``letter_name``); ``event`` is the original event
    in structured mode (JSON values), empty when it was too large to keep."""

    name: str
    event: dict[str, Any]
    destination: str = ""
    code: str = ""
    error: str = ""  # the failed answer's body as text (decoded from knativeerrordata)
    received: str = ""  # RFC 3339 time the sink (or the local Broker) stored it
    state: str = NEW
    replayed: str = ""  # RFC 3339 time of the last replay
    dropped_data: bool = False  # the event was too large to store: listed, not replayable
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return str(self.event.get("id", ""))

    @property
    def event_type(self) -> str:
        return str(self.event.get("type", ""))

    def summary(self) -> dict[str, Any]:
        """What ``dead-letters list -o json`` shows of it (camelCase, as every CLI output)."""
        return {"name": self.name, "state": self.state, "eventId": self.event_id, "eventType": self.event_type,
                "eventSource": self.event.get("source", ""), "team": self.event.get("team", ""),
                "destination": self.destination, "code": self.code, "error": self.error,
                "received": self.received, "replayed": self.replayed, "replayable": not self.dropped_data,
                **self.extra}


def letter_name(source: str, event_id: str, destination: str) -> str:
    """A stable name per (event, failed subscriber): the same failure stored twice is one letter,
    and the name is a valid ConfigMap name (DNS-1123 subdomain)."""
    digest = hashlib.sha256("\n".join((source, event_id, destination)).encode()).hexdigest()
    return f"dl-{digest[:24]}"


def original(event: CloudEvent) -> CloudEvent:
    """``event`` without what Knative added to it on the way to the dead-letter sink."""
    attributes = {k: v for k, v in event.get_attributes().items() if k not in KNATIVE_ADDED}
    return CloudEvent(attributes, event.get_data())


def error_text(encoded: str) -> str:
    """``knativeerrordata`` as text: base64 as Knative sends it; anything else is kept as it came."""
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return encoded


def structured(event: CloudEvent) -> dict[str, Any]:
    """The event in structured mode, as JSON values."""
    value: dict[str, Any] = json.loads(to_structured_event(event).body)
    return value


def from_structured(document: dict[str, Any], where: str) -> CloudEvent:
    """The CloudEvent a stored structured-mode document holds; ``LetterError`` naming ``where``."""
    try:
        event = from_http_event(HTTPMessage({"content-type": STRUCTURED}, json.dumps(document).encode()))
    except Exception as exc:  # the SDK raises several types for malformed input
        raise LetterError(f"{where}: not a CloudEvent: {exc}") from None
    return CloudEvent(dict(event.get_attributes()), event.get_data())


def from_dead_lettered(event: CloudEvent, received: str) -> Letter:
    """The letter of an event a Broker sent to its dead-letter sink."""
    destination = _text(event.get_extension(EXT_ERROR_DEST))
    clean = original(event)
    return Letter(
        name=letter_name(str(clean.get_source()), str(clean.get_id()), destination),
        event=structured(clean), destination=destination, code=_text(event.get_extension(EXT_ERROR_CODE)),
        error=error_text(_text(event.get_extension(EXT_ERROR_DATA))), received=received,
    )


def from_local_record(record: dict[str, Any], where: str) -> Letter:
    """The letter of one line the local Broker wrote (``bus.deadletters.DeadLetters.write``)."""
    event = record.get("event")
    if not isinstance(event, dict):
        raise LetterError(f"{where}: no 'event' object")
    clean = structured(original(from_structured(event, where)))
    destination = str(record.get("subscriber") or "")
    status = record.get("status")
    return Letter(
        name=letter_name(str(clean.get("source", "")), str(clean.get("id", "")), destination), event=clean,
        destination=destination, code="" if status is None else str(status), error=str(record.get("reason") or ""),
        received=str(record.get("time") or ""), extra={"trigger": record.get("trigger", "")},
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value)
