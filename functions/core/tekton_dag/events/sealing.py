"""Sealed events: the events that make things happen carry an HMAC of their content, so that only
the team's own functions can start or cancel runs.

A Knative Broker accepts any CloudEvent POSTed to its ingress, and without Knative's sender identity
(OIDC, EventPolicy) it cannot tell who sent one. So the producer of every event that leads to
action -- GitHub events (webhook-ingest, after checking GitHub's signature), ``run.requested``,
``run.cancel.requested`` and ``bootstrap.requested`` -- seals it with the team's event key, and
every consumer (and the local Broker's ingress) checks the seal before acting:

- no seal: 401 (``unsealed``); a seal made with another key, or over other content: 403;
- the Broker does not retry a 4xx, so a forged event ends as a dead letter and starts nothing.

The seal is ``v1=<hex HMAC-SHA256>`` in the ``tektondagseal`` extension, over the attributes a
consumer acts on (type, source, id, subject, team) and the data as canonical JSON (sorted keys, no
spaces): it survives any CloudEvents encoding and any Broker, which may re-encode the message and
add its own extensions. Keys: ``TEKTON_DAG_EVENT_KEY`` and/or the file ``TEKTON_DAG_EVENT_KEY_FILE``
(one Kubernetes Secret per team); several keys (comma- or newline-separated) are accepted while
rotating, the first one seals. Replaying a sealed event is harmless: event ids and PipelineRun
names are deterministic, so a replay is a duplicate that consumers drop.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.events import catalog
from tekton_dag.syntax import SECRET_FILE_LIMIT, file_text

KEY_ENV: Final = "TEKTON_DAG_EVENT_KEY"
KEY_FILE_ENV: Final = "TEKTON_DAG_EVENT_KEY_FILE"
MIN_KEY_LENGTH: Final = 32  # characters: `openssl rand -hex 32` gives 64
VERSION: Final = "v1="
REFRESH_S: Final = 10.0  # a mounted Secret is updated in place: rotation needs no restart

SEALED_TYPES: Final = frozenset({
    catalog.GITHUB_PULL_REQUEST, catalog.GITHUB_PUSH, catalog.GITHUB_ISSUE_COMMENT, catalog.GITHUB_CHECK_RUN,
    catalog.GITHUB_CHECK_SUITE, catalog.GITHUB_MERGE_GROUP, catalog.COMMAND_REQUESTED,
    catalog.RUN_REQUESTED, catalog.RUN_CANCEL_REQUESTED, catalog.BOOTSTRAP_REQUESTED,
})


class SealError(Exception):
    """An event that must not be acted on: ``status`` 401 (no seal) or 403 (a wrong one)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class KeyMissing(SealError):
    """No usable event key is configured: nothing can be sealed or checked."""

    def __init__(self, why: str = "") -> None:
        super().__init__(503, f"no event key configured: set {KEY_ENV} or {KEY_FILE_ENV} "
                              f"(at least {MIN_KEY_LENGTH} characters)" + (f"; {why}" if why else ""))


def sealed_content(event: BaseCloudEvent, data: Any) -> bytes:
    """What the seal covers (module docstring); ``data`` is the event's data as JSON values."""
    attributes = [event.get_type(), event.get_source(), event.get_id(), event.get_subject() or "",
                  str(event.get_extension(catalog.EXT_TEAM) or "")]
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # "surrogatepass": JSON may carry a lone surrogate ("\\ud800"), which strict UTF-8 refuses.
    return "\n".join([*attributes, canonical]).encode("utf-8", "surrogatepass")


def _mac(key: str, content: bytes) -> str:
    return VERSION + hmac.new(key.encode(), content, hashlib.sha256).hexdigest()


class EventKeys:
    """The active event keys, from the environment and a mounted file (re-read now and then)."""

    def __init__(self, env: Mapping[str, str]):
        self._inline = _split(env.get(KEY_ENV, ""))
        self._file = Path(env[KEY_FILE_ENV]) if env.get(KEY_FILE_ENV) else None
        self._keys: tuple[str, ...] = ()
        self._read_at = float("-inf")
        self.file_problem = ""  # why the file gave no key, said with KeyMissing (never its content)

    def current(self) -> tuple[str, ...]:
        """Usable keys (long enough), the sealing key first; () when none is configured."""
        if time.monotonic() - self._read_at > REFRESH_S:
            from_file: tuple[str, ...] = ()
            if self._file is not None:
                try:
                    from_file = _split(file_text(self._file, SECRET_FILE_LIMIT))
                    self.file_problem = ""
                except (OSError, UnicodeDecodeError) as exc:  # an absent optional Secret: ready() says so
                    from_file = ()
                    why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                    self.file_problem = f"{KEY_FILE_ENV} {self._file}: {why}"
            self._keys = tuple(k for k in self._inline + from_file if len(k) >= MIN_KEY_LENGTH)
            self._read_at = time.monotonic()
        return self._keys

    def seal(self, event: CloudEvent, data: Any) -> CloudEvent:
        """``event`` with its seal when its type is sealed (else unchanged); raises ``KeyMissing``."""
        if event.get_type() not in SEALED_TYPES:
            return event
        keys = self.current()
        if not keys:
            raise KeyMissing(self.file_problem)
        seal = _mac(keys[0], sealed_content(event, data))
        return CloudEvent({**event.get_attributes(), catalog.EXT_SEAL: seal}, event.get_data())

    def check(self, event: BaseCloudEvent, data: Any) -> None:
        """Raise ``SealError`` unless ``event`` (of a sealed type) carries a seal made with one of
        the keys. Every key is tried, so the time taken does not tell which one matched."""
        if event.get_type() not in SEALED_TYPES:
            return
        given = str(event.get_extension(catalog.EXT_SEAL) or "")
        if not given:
            raise SealError(401, f"unsealed: {event.get_type()} must carry the {catalog.EXT_SEAL} extension")
        keys = self.current()
        if not keys:
            raise KeyMissing(self.file_problem)
        content = sealed_content(event, data)
        matched = False
        for key in keys:
            matched |= hmac.compare_digest(_mac(key, content).encode(), given.encode("ascii", "replace"))
        if not matched:
            raise SealError(
                403, f"wrong seal: {event.get_type()} {event.get_id()!r} was not sealed with this team's event key"
            )


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.replace("\n", ",").split(",") if part.strip())
