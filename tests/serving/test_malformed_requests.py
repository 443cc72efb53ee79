"""Malformed requests to `tekton-dag serve NAME` over a real socket: each gets a 4xx naming what is
wrong (never a 500, which a Broker or GitHub retries, never a traceback), and nothing is published.

Raw sockets, as httpx cannot send a bad chunk, repeated headers in a chosen order, or a head
without its body."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tekton_dag.events import catalog
from tekton_dag.functions.intake import MAX_EVENT_BYTES
from tekton_dag.testing.github import SHARED_SECRET, delivery, environment, write_teams
from tekton_dag.testing.recorder import EventRecorder
from tekton_dag.testing.serving import Served, served_function
from tekton_dag.webhooks.signatures import sign

CLOUDEVENT_FUNCTIONS = ["resolver", "status-reporter"]  # one Intake in front of every CloudEvent function
BINARY = {"ce-specversion": "1.0", "ce-id": "e-1", "ce-source": "/test", "ce-type": catalog.GITHUB_PULL_REQUEST,
          "content-type": "application/json"}
API_TOKEN = "api-token-of-the-malformed-tests"


@pytest.fixture(scope="module")
def sink() -> Iterator[EventRecorder]:
    sink = EventRecorder()
    with sink.serving():
        yield sink


@pytest.fixture(scope="module")
def teams(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_teams(tmp_path_factory.mktemp("malformed") / "teams")


@contextlib.contextmanager
def serving(name: str, teams: Path, sink: EventRecorder) -> Iterator[Served]:
    # granian, the default, whatever the environment says: hypercorn answers a bad chunk 400 itself
    # (empty), before the application hears of it
    env = {**environment(teams), "K_SINK": sink.url, "TEKTON_DAG_API_TOKEN": API_TOKEN,
           "TEKTON_DAG_HTTP_SERVER": "granian"}
    ready = "/readyz" if name == "webhook-ingest" else "/health/readiness"
    with served_function(name, env, teams.parent, ready_path=ready) as server:
        yield server
    assert "Traceback" not in server.output  # a client's error is no bug of ours
    assert SHARED_SECRET not in server.output and API_TOKEN not in server.output


@pytest.fixture(scope="module", params=CLOUDEVENT_FUNCTIONS)
def cloudevent_function(request: pytest.FixtureRequest, teams: Path, sink: EventRecorder) -> Iterator[Served]:
    with serving(request.param, teams, sink) as server:
        yield server


@pytest.fixture(scope="module")
def webhook_ingest(teams: Path, sink: EventRecorder) -> Iterator[Served]:
    with serving("webhook-ingest", teams, sink) as server:
        yield server


@pytest.fixture
def cloudevents(cloudevent_function: Served, sink: EventRecorder) -> Iterator[Served]:
    sink.received.clear()
    yield cloudevent_function
    assert sink.received == []  # nothing refused is published


@pytest.fixture
def ingest(webhook_ingest: Served, sink: EventRecorder) -> Iterator[Served]:
    sink.received.clear()
    yield webhook_ingest
    assert sink.received == []


def exchange(server: Served, head: str, body: bytes = b"", *, timeout: float = 5) -> tuple[int, dict[str, str], str]:
    """Send ``head`` (lines without the request line's CRLFs) and ``body`` as they are; the answer."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode("latin-1") + b"\r\n\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head_bytes, _, rest = answer.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, rest.decode("utf-8", "replace")


def _length(answer: bytes) -> int:
    head, _, _ = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return 0


def post(server: Served, headers: dict[str, str] | list[tuple[str, str]], body: bytes,
         method: str = "POST", path: str = "/") -> tuple[int, dict[str, str], str]:
    pairs = list(headers.items()) if isinstance(headers, dict) else headers
    lines = [f"{method} {path} HTTP/1.1", "Host: test", "Connection: close", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in pairs)]
    return exchange(server, "\n".join(lines), body)




def structured(**attributes: object) -> bytes:
    return json.dumps({"specversion": "1.0", "id": "e-1", "source": "/test",
                       "type": catalog.GITHUB_PULL_REQUEST, **attributes}).encode()


# --- CloudEvent functions -------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_a_method_but_post_is_405_and_never_reaches_the_handler(cloudevents: Served, method: str) -> None:
    """func-python decoded a PUT as an event: status-reporter answered 202, the resolver resolved it."""
    status, headers, text = post(cloudevents, BINARY, b"{}", method=method)
    assert (status, headers["allow"]) == (405, "POST"), text
    assert method in text and "POST" in text


INVALID_ATTRIBUTES = [
    # func-python answered each "Bad Request: This endpoint expects CloudEvent requests.", naming nothing
    ({**BINARY, "ce-specversion": "2.0"}, b"{}", "specversion"),
    ({**BINARY, "ce-id": ""}, b"{}", "'id' must not be None or empty"),
    ({**BINARY, "ce-time": "yesterday"}, b"{}", "time: 'yesterday' is not an RFC 3339 timestamp"),
    ({**BINARY, "ce-Bad_Ext": "x"}, b"{}", "bad_ext"),
    ({"content-type": "application/cloudevents+json"}, structured(time="2026-13"), "time: '2026-13'"),
    ({"content-type": "application/cloudevents+json"}, structured(id=7), "'id' must be a"),
    # func-python answered these 500 (a Broker retries them for ever), with the exception's text
    (BINARY, b"[" * 100_000, "data: JSON nested too deeply"),
    ({"content-type": "application/cloudevents+json"}, b'{"data":' + b"[" * 100_000, "JSON nested too deeply"),
    ({"content-type": "application/cloudevents+json"}, structured()[:-1] + b', "data": ' + b"9" * 5000 + b"}",
     "a number has more than 4300 digits"),
]


# JSON that Python's json takes and no sender's parser (Go's encoding/json) does: each was read (NaN
# as a float, the BOM skipped, the last of two keys) where the Broker or GitHub would never send it.
NOT_JSON = [
    (b'{"number": NaN}', "not valid JSON (NaN is no JSON value: RFC 8259 has no NaN or Infinity)"),
    (b'{"number": Infinity}', "not valid JSON (Infinity is no JSON value"),
    (b'{"number": -Infinity}', "not valid JSON (-Infinity is no JSON value"),
    (b'\xef\xbb\xbf{"repo": "a/b"}', "not valid JSON (it starts with a byte order mark (U+FEFF)"),
    (b'{"repo": "a/b", "repo": "c/d"}', "not valid JSON (object key 'repo' appears more than once)"),
    ('{"repo": "a/b"}'.encode("utf-16"), "not UTF-8 text"),
]


@pytest.mark.parametrize(("data", "named"), NOT_JSON)
def test_event_data_no_sender_would_send_as_json_is_400_naming_what(
    cloudevents: Served, data: bytes, named: str
) -> None:
    for headers, body in ((BINARY, data), ({"content-type": "application/cloudevents+json"},
                                             structured()[:-1] + b', "data": ' + data + b"}")):
        if body is not data and data.startswith((b"\xef", b"\xff")):  # no BOM or UTF-16 inside a document
            continue
        status, _, text = post(cloudevents, headers, body)
        assert status == 400 and named in text, (headers, text)


@pytest.mark.parametrize(("headers", "body", "named"), INVALID_ATTRIBUTES)
def test_an_event_the_sdk_cannot_read_is_400_naming_why(
    cloudevents: Served, headers: dict[str, str], body: bytes, named: str
) -> None:
    status, _, text = post(cloudevents, headers, body)
    assert status == 400 and named in text, text
    assert "sys.set_int_max_str_digits" not in text


def test_a_bad_chunk_is_400_not_500(cloudevents: Served) -> None:
    head = "\n".join(["POST / HTTP/1.1", "Host: test", "Transfer-Encoding: chunked", "Connection: close",
                      *(f"{k}: {v}" for k, v in BINARY.items())])
    status, _, text = exchange(cloudevents, head, b"2\r\n{}\r\nZZ\r\nnot a chunk\r\n0\r\n\r\n")
    assert status == 400 and "incomplete" in text, text


def test_an_event_over_the_limit_is_413_by_its_content_length_before_the_body_is_sent(cloudevents: Served) -> None:
    head = "\n".join(["POST / HTTP/1.1", "Host: test", f"Content-Length: {MAX_EVENT_BYTES + 1}",
                      *(f"{k}: {v}" for k, v in BINARY.items())])
    status, _, text = exchange(cloudevents, head, timeout=3)  # no body at all: an answer only from the head
    assert status == 413 and "MiB" in text, text


def test_a_chunked_event_is_413_as_soon_as_it_grows_past_the_limit(cloudevents: Served) -> None:
    host, port = cloudevents.url.removeprefix("http://").split(":")
    head = "\r\n".join(["POST / HTTP/1.1", "Host: test", "Transfer-Encoding: chunked",
                        *(f"{k}: {v}" for k, v in BINARY.items())]) + "\r\n\r\n"
    chunk = b"a" * 65536
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head.encode())
        try:  # never the last chunk: only a server that stops reading at the limit answers
            for _ in range(MAX_EVENT_BYTES // len(chunk) + 2):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # it answered and closed while we were still sending
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


# --- webhook-ingest -------------------------------------------------------------------------------

def test_a_delivery_with_a_bad_chunk_is_400_not_a_signature_failure(ingest: Served) -> None:
    """The body read stopped at the bad chunk and its prefix was checked as the delivery: a 401 (or,
    for a prefix that happened to verify, acted on)."""
    headers, body = delivery("pull_request.opened")
    head = "\n".join(["POST /webhook/github HTTP/1.1", "Host: test", "Transfer-Encoding: chunked",
                      "Connection: close", *(f"{k}: {v}" for k, v in headers.items())])
    status, _, text = exchange(ingest, head, b"%x\r\n%s\r\nZZ\r\n" % (len(body), body))
    assert status == 400 and "body incomplete" in json.loads(text)["reason"], text


@pytest.mark.parametrize("header", ["X-Hub-Signature-256", "X-GitHub-Event", "X-GitHub-Delivery", "Content-Type"])
def test_a_header_a_delivery_is_read_by_sent_twice_is_400_naming_it(ingest: Served, header: str) -> None:
    """The last one counted: a bogus signature before a valid one was accepted, after it refused."""
    headers, body = delivery("pull_request.opened")
    bogus = {"X-Hub-Signature-256": "sha256=" + "0" * 64, "X-GitHub-Event": "push",
             "X-GitHub-Delivery": "other-delivery", "Content-Type": "text/plain"}[header]
    pairs = [(header, bogus), *headers.items()]  # the real one last
    status, _, text = post(ingest, pairs, body)
    assert status == 400 and json.loads(text)["reason"].startswith(f"{header.lower()}: sent more than once"), text


def test_a_number_too_long_for_python_is_named_without_python_advice(ingest: Served) -> None:
    headers, _ = delivery("pull_request.opened")
    body = b'{"number": ' + b"9" * 5000 + b"}"
    status, _, text = post(ingest, {**headers, "X-Hub-Signature-256": sign(SHARED_SECRET, body)}, body)
    assert status == 400 and json.loads(text)["reason"] == "body: a number has more than 4300 digits", text


def test_the_resolver_says_why_it_refuses_an_event(teams: Path, sink: EventRecorder) -> None:
    """Its 400 had an empty body: neither the sender nor the Broker's dead letter (knativeerrordata)
    learnt what was wrong."""
    sink.received.clear()
    with serving("resolver", teams, sink) as server:
        status, headers, text = post(server, BINARY, b'{"repo": "a/b"}')
    assert (status, headers["content-type"]) == (400, "text/plain"), text
    assert text == f"{catalog.GITHUB_PULL_REQUEST}: data: 'sender' is a required property"
    assert sink.received == []


def test_two_authorization_headers_are_400_whichever_comes_last(ingest: Served) -> None:
    """The last one counted: a wrong token before the right one was let through (a proxy that
    checks the first would have refused it)."""
    body = b'{"team": "platform", "stack": "web"}'
    for pairs in ([("Authorization", "Bearer wrong"), ("Authorization", f"Bearer {API_TOKEN}")],
                  [("Authorization", f"Bearer {API_TOKEN}"), ("Authorization", "Bearer wrong")]):
        status, _, text = post(ingest, [*pairs, ("Content-Type", "application/json")], body, path="/api/run")
        assert status == 400 and json.loads(text)["reason"] == "Authorization: sent more than once", text


def test_a_webhook_body_no_sender_would_send_as_json_is_400_naming_what(ingest: Served) -> None:
    headers, _ = delivery("pull_request.opened")
    for body, named in NOT_JSON:
        status, _, text = post(ingest, {**headers, "X-Hub-Signature-256": sign(SHARED_SECRET, body)}, body)
        assert status == 400 and json.loads(text)["reason"].startswith("body: " + named), text
    # the one a reader that keeps the first value and one that keeps the last would read differently
    action_twice = delivery("pull_request.opened")[1].replace(b'"action": "opened"',
                                                              b'"action": "closed", "action": "opened"', 1)
    status, _, text = post(ingest, {**headers, "X-Hub-Signature-256": sign(SHARED_SECRET, action_twice)}, action_twice)
    assert status == 400 and "object key 'action' appears more than once" in text, text


@pytest.mark.parametrize(("body", "reason"), [(body, f"body: {named}") for body, named in NOT_JSON])
def test_an_api_body_no_sender_would_send_as_json_is_400_naming_what(ingest: Served, body: bytes, reason: str) -> None:
    status, _, text = post(ingest, {"Authorization": f"Bearer {API_TOKEN}"}, body, path="/api/run")
    assert status == 400 and json.loads(text)["reason"].startswith(reason), text


@pytest.mark.parametrize(("body", "reason"), [
    (b"[" * 100_000, "body: JSON nested too deeply"),  # was "body: not valid JSON", saying nothing more
    (b'{"team": ' + b"9" * 5000 + b"}", "body: a number has more than 4300 digits"),
    (b'{"team": "platform",}', "body: not valid JSON (Expecting property name enclosed in double quotes at line 1 "
                               "column 21)"),
])
def test_an_api_body_that_is_not_json_is_400_saying_where(ingest: Served, body: bytes, reason: str) -> None:
    status, _, text = post(ingest, {"Authorization": f"Bearer {API_TOKEN}"}, body, path="/api/run")
    assert status == 400 and json.loads(text)["reason"] == reason, text


@pytest.mark.parametrize("breaker", ["\n", "\r\n", "\u2028"])
def test_an_event_id_with_a_line_break_cannot_forge_a_log_line(teams: Path, sink: EventRecorder, breaker: str) -> None:
    """The resolver logs the id of an event it refuses: sent with a line break and a line of our
    own making after it, it came out as two lines, the second one forged."""
    forged = "INFO:tekton_dag.runcreator:run created: forged"
    sink.received.clear()
    with serving("resolver", teams, sink) as server:
        status, _headers, text = post(server, {"content-type": "application/cloudevents+json"},
                                      structured(id=f"e-1{breaker}{forged}", data={"repo": "a/b"}))
    output = server.output  # all of it once the process has ended
    assert status == 400, text
    assert "e-1" in output and not any(line.startswith(forged) for line in output.splitlines())
    assert sink.received == []
