"""The few raw-ASGI pieces the http function needs: bounded body reads and JSON replies."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tekton_dag.syntax import ascii_digits

Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
Scope = Mapping[str, Any]


class BodyTooLarge(Exception):
    """The request body is over the limit (answer 413)."""


class BodyIncomplete(Exception):
    """The connection ended before the body did: a bad chunk, a client gone (answer 400)."""


def headers_of(scope: Scope) -> dict[str, str]:
    """Request headers with lower-case names; undecodable bytes are replaced, never raised on."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", ())
    }


def repeated(scope: Scope, names: tuple[str, ...]) -> str:
    """The first of ``names`` (lower-case) that the request sends more than once, else "".
    ``headers_of`` keeps the last of repeated headers, where a proxy may act on the first."""
    sent = [name.decode("latin-1").lower() for name, _ in scope.get("headers", ())]
    return next((name for name in names if sent.count(name) > 1), "")


async def read_body(scope: Scope, receive: Receive, limit: int, headers: Mapping[str, str] | None = None) -> bytes:
    """The whole body, refusing early (by Content-Length) or as soon as it grows past ``limit``;
    ``headers`` are the request's from ``headers_of`` when the caller has them already (decoded
    once per request, not twice)."""
    declared = (headers_of(scope) if headers is None else headers).get("content-length", "")
    if ascii_digits(declared) and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":  # what came is a prefix: never to be read as the body
            raise BodyIncomplete
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def reply(send: Send, status: int, body: Any = None, headers: Mapping[str, str] | None = None) -> None:
    """Answer with ``body`` as JSON, or with an empty body when it is None."""
    payload = b"" if body is None else json.dumps(body).encode()
    raw_headers = [(b"content-length", str(len(payload)).encode())]
    if body is not None:
        raw_headers.append((b"content-type", b"application/json"))
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


async def reply_raw(send: Send, status: int, payload: bytes, content_type: str,
                    extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer with ``payload`` as it is (e.g. the Prometheus text exposition), and ``extra`` headers."""
    headers = [(b"content-length", str(len(payload)).encode()), (b"content-type", content_type.encode()),
               *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
