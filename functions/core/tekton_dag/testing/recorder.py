"""Stands in for whatever receives CloudEvents: a Knative Broker's ingress, a Trigger's subscriber,
a dead-letter sink.

``EventRecorder`` decodes every POST with the CloudEvents SDK itself (``cloudevents.core``, binary or
structured mode) and not with ``tekton_dag.events.codec``: a double must not share the code it
checks. Like Knative's Broker ingress, a request that is no valid CloudEvent is answered 400 and
its event is not recorded (knative/eventing pkg/broker/ingress/ingress_handler.go: ``binding.ToEvent``
or ``event.Validate()`` failing -> ``http.StatusBadRequest``). Anything but POST is answered 405.

What it answers is scripted: ``answers`` first, in order, then ``(status, reply)`` for every later
request; a reply is a CloudEvent (sent back in structured mode, as a subscriber's reply event),
bytes, or None. ``fail_after=N`` accepts N events, then answers 500; ``delay`` holds each answer
of the loopback server back (a slow subscriber).

It records:

- ``received``: every CloudEvent it decoded, whatever it answered (each delivery attempt);
- ``events``: those it answered 2xx, i.e. what a Broker accepted;
- ``headers``: the lower-cased headers of every request that reached it, valid or not.

Two ways in, one behaviour:

- ``with recorder.serving() as url``: a real HTTP/1.1 server on a loopback port, in a thread, for
  processes and clients that need a URL (``tekton-dag serve``, the local Broker, ``K_SINK``);
- ``recorder.client()``: an ``httpx.AsyncClient`` on ``httpx.MockTransport``, in-process, for the
  handlers that take a Broker client; there ``timeout=True`` raises ``httpx.ReadTimeout`` instead
  of answering, as a Broker that never answers would end.

Not modelled: the Broker's own routing, retries, TTL and delivery (the local Broker in
``tekton_dag.bus`` does those), authentication, HTTP/2.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from cloudevents.core.bindings.http import HTTPMessage, from_http_event, to_structured_event
from cloudevents.core.exceptions import CloudEventValidationError
from cloudevents.core.v1.event import CloudEvent

Reply = CloudEvent | bytes | None
Answer = tuple[int, Reply]


@dataclass
class EventRecorder:
    """A scripted CloudEvents receiver that records what it gets (see the module docstring)."""

    status: int = 202
    reply: Reply = None
    answers: list[Answer] = field(default_factory=list)
    fail_after: int | None = None
    delay: float = 0.0
    timeout: bool = False
    received: list[CloudEvent] = field(default_factory=list)
    events: list[CloudEvent] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    def types(self) -> list[str]:
        return [event.get_type() for event in self.events]

    def events_of(self, kind: str) -> list[CloudEvent]:
        """Every received event of type ``kind``."""
        return [event for event in self.received if event.get_type() == kind]

    def answer(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Record one POST and say what to answer: (status, headers, body)."""
        lowered = {key.lower(): value for key, value in headers.items()}
        self.headers.append(lowered)
        refused = _not_what_knative_reads(lowered, body)
        if refused:
            return 400, {}, f"not a CloudEvent: {refused}".encode()
        if lowered.get("content-type", "").lower().startswith("application/cloudevents"):
            lowered = {"content-type": lowered["content-type"]}  # structured: ce- headers are no attributes
        try:
            event = from_http_event(HTTPMessage(headers=lowered, body=body))
        except (CloudEventValidationError, ValueError, TypeError, KeyError) as exc:  # what the SDK raises
            return 400, {}, f"not a CloudEvent: {exc}".encode()
        if not isinstance(event, CloudEvent):  # the SDK's v1 factory always makes one; this narrows the type
            return 400, {}, b"not a CloudEvents 1.0 event"
        self.received.append(event)
        status, reply = self._next_answer()
        if 200 <= status < 300:
            self.events.append(event)
        if isinstance(reply, CloudEvent):
            message = to_structured_event(reply)
            return status, dict(message.headers), message.body
        return status, {}, reply or b""

    def _next_answer(self) -> Answer:
        if self.answers:
            return self.answers.pop(0)
        if self.fail_after is not None and len(self.events) >= self.fail_after:
            return 500, None
        return self.status, self.reply

    def client(self) -> httpx.AsyncClient:
        """An in-process client whose every request this recorder answers."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self._handle))

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return httpx.Response(405)
        if self.timeout:
            self.headers.append(dict(request.headers))
            raise httpx.ReadTimeout("the receiver did not answer", request=request)
        status, headers, body = self.answer(request.headers, request.content)
        return httpx.Response(status, headers=headers, content=body)

    @contextlib.contextmanager
    def serving(self) -> Iterator[str]:
        """Serve on a free loopback port until the block ends; yields (and sets) ``url``."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_port}/"
        try:
            yield self.url
        finally:
            server.shutdown()
            server.server_close()


def _not_what_knative_reads(headers: Mapping[str, str], body: bytes) -> str:
    """Why Knative's ingress would answer 400 where the Python SDK fills in ("" when it would not).

    Its reader, sdk-go, takes the mode from Content-Type first (``application/cloudevents-batch``:
    batched, which ``binding.ToEvent`` cannot read; ``application/cloudevents``: structured) and
    otherwise needs ``ce-specversion`` for binary mode (v2/protocol/http/message.go ``NewMessage``,
    ``ReadEncoding``); then ``event.Validate()`` needs id, source and type (v2/event/
    eventcontext_v1.go). The Python SDK makes up an id, and binary mode's specversion.
    Written apart from ``events.codec.readable``, the product's copy of these rules, on purpose: a
    double that called the code it checks could not catch that code wrong.
    """
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media.startswith("application/cloudevents-batch"):
        return f"batched mode ({media})"
    if media.startswith("application/cloudevents"):
        try:
            document = json.loads(body)
        except ValueError:
            return ""  # the SDK says why
        sent = set(document) if isinstance(document, dict) else set()
    elif "ce-specversion" not in headers:
        return "no ce-specversion header and no structured Content-Type"
    else:
        sent = {name[3:] for name in headers if name.startswith("ce-")}
    missing = [name for name in ("id", "source", "type", "specversion") if name not in sent]
    return f"missing {', '.join(missing)}" if missing else ""


def _handler_for(recorder: EventRecorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a Broker ingress and a Knative Service do

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            answer = recorder.answer(dict(self.headers.items()), body)
            time.sleep(recorder.delay)  # in this request's own thread: other requests go on
            self._send(*answer)

        def do_GET(self) -> None:  # noqa: N802
            self._send(405, {}, b"")

        # Every other method too: http.server answers 501 to a method its handler lacks (HEAD, OPTIONS).
        do_HEAD = do_OPTIONS = do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            with contextlib.suppress(OSError):  # the client gave up (a delivery timeout): nothing to tell
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler
