"""One delivery, how an attempt ended, and where a delivery goes when it finally fails.

Dead letters go to the DeliverySpec's sink with Knative's ``knativeerrorcode``,
``knativeerrordest`` and ``knativeerrordata`` extensions; without a sink (or when the sink fails
too) they are appended to a JSON-lines file and logged as errors, so none is silently lost.
``read_letters`` and ``mark_replayed`` are that file's side of ``tekton-dag dead-letters``.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import to_binary_event, to_structured_event

from tekton_dag.bus.delivery import DeliverySpec
from tekton_dag.bus.triggers import Trigger
from tekton_dag.eventing.posting import Poster, PostError
from tekton_dag.eventing.wire import with_extensions
from tekton_dag.events.deadletters import REPLAYED, Letter, LetterError, from_local_record

log = logging.getLogger("tekton_dag.broker")

# knativeerrordata is the failed answer's body in standard base64, cut at 1024 characters
# (KnativeErrorDataExtensionMaxLength, knative/eventing pkg/kncloudevents/attributes/knative_error.go;
# cut in pkg/kncloudevents/event_dispatcher.go dispatchExecutionInfoTransformers).
ERROR_DATA_LIMIT = 1024
# What Knative reports when an attempt got no answer at all (connection refused, timeout):
# executeRequest sets ResponseCode 500 and the body "dispatch error: <error>" (event_dispatcher.go).
NO_ANSWER_CODE = 500
NO_ANSWER_PREFIX = b"dispatch error: "


@dataclass(eq=False)
class Delivery:
    """One event on its way to one Trigger's subscriber."""

    event: BaseCloudEvent  # 1.0, or 0.3 as the ingress took it
    trigger: Trigger
    url: str
    spec: DeliverySpec
    ttl: int
    attempts: int = 0
    journal_id: int | None = None  # its row in the Broker's journal, when it has one
    resumed: bool = False  # read back from the journal at start, not accepted by this process


@dataclass
class Outcome:
    """How one attempt ended: ``reply`` is set for a 2xx carrying a CloudEvent."""

    ok: bool
    retryable: bool = False
    status: int | None = None  # None: no answer at all (network error, timeout)
    detail: str = ""
    reply: BaseCloudEvent | None = None
    body: bytes = b""  # a failed answer's body, as the subscriber sent it (knativeerrordata)
    # False: Knative's filter answered for the subscriber without its ErrExtensionInfo (a reply
    # body that is no CloudEvent), so the dead letter carries no error extensions (error_extensions).
    error_info: bool = True


class DeadLetters:
    """Where failed deliveries end: a dead-letter sink URL, else (or if that fails) a file."""

    def __init__(self, poster: Poster, file: Path):
        self._poster = poster
        self.file = file

    async def send(self, delivery: Delivery, sink_url: str | None, outcome: Outcome) -> None:
        if sink_url and await self._post(delivery, sink_url, outcome):
            log.warning("dead-lettered %s to %s after %d tries: %s", self._what(delivery), sink_url,
                        delivery.attempts, outcome.detail)
            return
        self.write(delivery, outcome.detail, outcome.status)

    def write(self, delivery: Delivery, reason: str, status: int | None = None) -> None:
        record = {
            "time": datetime.now().astimezone().isoformat(),
            "trigger": delivery.trigger.name,
            "subscriber": delivery.url,
            "attempts": delivery.attempts,
            "status": status,
            "reason": reason,
            "event": json.loads(to_structured_event(delivery.event).body),
        }
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with self.file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        log.error("dead letter %s written to %s: %s", self._what(delivery), self.file, reason)

    async def _post(self, delivery: Delivery, url: str, outcome: Outcome) -> bool:
        message = to_binary_event(with_extensions(delivery.event, **error_extensions(delivery.url, outcome)))
        try:
            answer = await self._poster.post(url, message.headers, message.body, delivery.spec.timeout_s)
        except PostError as exc:
            log.error("dead-letter sink %s unreachable: %s", url, exc)
            return False
        if 200 <= answer.status < 300:
            return True
        log.error("dead-letter sink %s answered %d", url, answer.status)
        return False

    @staticmethod
    def _what(delivery: Delivery) -> str:
        event = delivery.event
        return f"{event.get_type()} {event.get_id()} for trigger {delivery.trigger.name}"


def error_extensions(destination: str, outcome: Outcome) -> dict[str, Any]:
    """Knative's ``knativeerrordest``, ``knativeerrorcode`` and ``knativeerrordata`` for a delivery to
    ``destination`` that ended with ``outcome`` (constants above). An empty body leaves
    ``knativeerrordata`` out (Knative sends it empty).

    None at all after a filter answer without ``ErrExtensionInfo`` (``outcome.error_info`` False):
    the channel reads the MT broker filter's failed answer as that JSON to learn the subscriber's
    status and body, and gives up on the extensions when it cannot (knative/eventing
    pkg/kncloudevents/event_dispatcher.go ``dispatchExecutionInfoTransformers`` returns nil when
    ``json.Unmarshal`` fails); the filter's 502 for a reply that is no CloudEvent has an empty body
    (pkg/broker/filter/filter_handler.go ``writeResponse``)."""
    if not outcome.error_info:
        return {}
    if outcome.status is None:
        code, body = NO_ANSWER_CODE, NO_ANSWER_PREFIX + outcome.detail.encode()
    else:
        code, body = outcome.status, outcome.body
    extensions: dict[str, Any] = {"knativeerrordest": destination, "knativeerrorcode": str(code)}
    if body:
        extensions["knativeerrordata"] = base64.b64encode(body).decode()[:ERROR_DATA_LIMIT]
    return extensions


# --- reading the file back: `tekton-dag dead-letters list|replay --local FILE` --------------------
# The file is append-only (the Broker may be writing to it): a replay appends a marker line
# {"replayed": <letter name>, "time": ...} instead of rewriting what is there.


def read_letters(file: Path) -> list[Letter]:
    """Every letter of the file, latest first-seen order; a marker after a letter marks it replayed,
    a later failure of the same event makes it new again. ``LetterError`` names the bad line."""
    letters: dict[str, Letter] = {}
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise LetterError(f"{file}: cannot read: {exc.strerror or exc}") from None
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            record = json.loads(line.decode())  # UTF-8: json.loads would guess UTF-16 from bytes
        except UnicodeDecodeError:
            raise LetterError(f"{where}: not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise LetterError(f"{where}: not JSON ({exc.msg})") from None
        except RecursionError:
            raise LetterError(f"{where}: JSON nested too deeply") from None
        if not isinstance(record, dict):
            raise LetterError(f"{where}: not a JSON object")
        if "replayed" in record:
            marked = letters.get(str(record["replayed"]))
            if marked is not None:
                marked.state, marked.replayed = REPLAYED, str(record.get("time", ""))
            continue
        letter = from_local_record(record, where)
        letters.pop(letter.name, None)
        letters[letter.name] = letter
    return list(letters.values())


def mark_replayed(file: Path, names: list[str]) -> None:
    """Append one marker line per replayed letter."""
    now = datetime.now().astimezone().isoformat()
    with file.open("a", encoding="utf-8") as out:
        for name in names:
            out.write(json.dumps({"replayed": name, "time": now}) + "\n")
