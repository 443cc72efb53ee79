"""GitHub App authentication: the App's JWT and installation tokens, cached and fetched once.

JWT rules (https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/
generating-a-json-web-token-jwt-for-a-github-app): RS256, ``iss`` the App's id, ``iat`` set 60 s
in the past against clock drift, ``exp`` no more than 10 minutes into the future.

Installation tokens (https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/
generating-an-installation-access-token-for-a-github-app) expire after one hour; the answer of
``POST /app/installations/{id}/access_tokens`` says when (``expires_at``). A token is used until
``REFRESH_MARGIN_S`` before that, so a call that starts with it cannot outlive it; concurrent calls
that find no valid token share one request for it (single flight), per installation.

Rotation: the App's key and the plain token are files of a mounted Secret, which the kubelet
updates in place (``webhooks.secrets.SecretFile``). ``MountedCredential`` notices a new file at the
next call and uses it from then on, so a rotation needs no restart. GitHub's way to rotate an App's
key without downtime is to generate a second key, deploy it, then delete the first (an App holds up
to 25 and every one signs valid JWTs until deleted: https://docs.github.com/en/apps/creating-github-apps/
authenticating-with-a-github-app/managing-private-keys-for-github-apps). Installation tokens already
fetched stay in use until they expire. A file that becomes unreadable, empty or not a key leaves
the last good value in use, with an error in the log: a half-written Secret never stops the reports.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from tekton_dag.webhooks.secrets import SecretFile

JWT_BACKDATE_S: Final = 60
JWT_LIFETIME_S: Final = 9 * 60  # from now: under GitHub's 10-minute maximum even with a fast clock
REFRESH_MARGIN_S: Final = 5 * 60


log = logging.getLogger(__name__)


class MountedCredential:
    """A credential read at start (``value``) and read again from ``path`` whenever that file
    changes (one stat per ``current()``); ``fits`` says whether a new text can be used at all. The
    value is never logged, only the variable and the path. ``confirmed``: whether a new value is
    in use as soon as it fits (a token); else the caller says so once it works (``adopted``: a key,
    which must parse first)."""

    def __init__(self, value: str, path: str, variable: str, fits: Callable[[str], bool] = bool,
                 confirmed: bool = True) -> None:
        self.value = value
        self._file = SecretFile(Path(path)) if path else None
        self._variable = variable
        self._fits = fits
        self._confirmed = confirmed
        self._refused = ""  # the last new text refused (or _EMPTY): said once, not on every call

    def current(self) -> str:
        """The value to use now: the file's text once it changed and fits, else the last good one."""
        if self._file is None:
            return self.value
        text = self._file.text()  # "" while unreadable (SecretFile warns once) or empty
        if not text:
            if self._file.readable and self._refused != _EMPTY:
                self._refused = _EMPTY
                log.error("%s: %s is empty; the previous one stays in use", self._variable, self._file.path)
        elif text != self.value:
            if self._fits(text):
                self.value, self._refused = text, ""
                if self._confirmed:
                    self.adopted()
            else:
                self.refuse(text, "not what this variable takes")
        return self.value

    def adopted(self) -> None:
        """Say that the file's new value is in use (once per change)."""
        log.info("%s: %s changed; using the new one", self._variable, self._file.path if self._file else "value")

    def refuse(self, text: str, why: str) -> None:
        """``text`` (the file's, or what ``current`` gave) cannot be used (``why``: never the value itself)."""
        if text != self._refused:
            self._refused = text
            log.error("%s: the new %s cannot be used (%s); the previous one stays in use", self._variable,
                      self._file.path if self._file else "value", why)


_EMPTY = "\0empty"  # MountedCredential._refused for a file that is there but empty


def app_jwt(app_id: str, private_key: str | Any, now: float) -> str:
    """The App's JWT, valid from a minute ago until ``JWT_LIFETIME_S`` from ``now``. ``private_key``:
    the PEM, or the key ``load_key`` made of it (~0.7 ms to sign; from the PEM ~50 ms, most of it
    cryptography checking the RSA key)."""
    import jwt  # here, not at module level: with cryptography it is ~50 ms of a cold start (warm_up)

    issued = int(now) - JWT_BACKDATE_S
    return jwt.encode({"iat": issued, "exp": int(now) + JWT_LIFETIME_S, "iss": app_id}, private_key, algorithm="RS256")


def load_key(private_key: str) -> Any:
    """The App's private key (PEM) parsed and checked, to sign with (``app_jwt``). ~50 ms of CPU
    during which cryptography releases the GIL: run it in a thread, not on the event loop.
    ValueError for anything GitHub's RS256 JWTs cannot be signed with: not a key, an encrypted
    key (cryptography's TypeError: no password to give), a key of another type (an EC key parses,
    and only signing would fail)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(private_key.encode(), password=None)
    except TypeError:
        raise ValueError("the key is encrypted; GitHub's download is not, and no password can be given") from None
    except UnsupportedAlgorithm as exc:
        raise ValueError(f"unsupported key type: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"not an RSA key ({type(key).__name__}): a GitHub App's key is RSA, its JWTs RS256")
    return key


def warm_up() -> None:
    """Import the JWT library now (status-reporter does it in a background thread after start), so
    the first token fetch does not pay for it."""
    import jwt  # noqa: F401


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float  # Unix time

    @classmethod
    def from_answer(cls, answer: object) -> Token:
        """From the JSON GitHub answers (``token``, ``expires_at`` in ISO 8601); ValueError if malformed."""
        if not isinstance(answer, dict) or not isinstance(answer.get("token"), str):
            raise ValueError("no 'token' in GitHub's answer")
        expires = str(answer.get("expires_at", "")).replace("Z", "+00:00")
        return cls(answer["token"], datetime.fromisoformat(expires).timestamp())


class InstallationTokens:
    """Installation tokens by installation id: cached until shortly before expiry, fetched once."""

    def __init__(self, fetch: Callable[[int], Awaitable[Token]], clock: Callable[[], float] = time.time,
                 margin_s: float = REFRESH_MARGIN_S) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = margin_s
        self._tokens: dict[int, Token] = {}
        self._inflight: dict[int, asyncio.Future[Token]] = {}

    async def get(self, installation_id: int) -> str:
        cached = self._tokens.get(installation_id)
        if cached is not None and cached.expires_at - self._margin > self._clock():
            return cached.value
        pending = self._inflight.get(installation_id)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(installation_id))
            self._inflight[installation_id] = pending
            pending.add_done_callback(lambda done: self._settle(installation_id, done))
        # shield: one caller giving up (its own deadline, a cancel) must not cancel the others' fetch
        token = await asyncio.shield(pending)
        return token.value

    def forget(self, installation_id: int, value: str) -> None:
        """Drop a token GitHub refused (401: revoked or expired early), so the next call fetches anew."""
        cached = self._tokens.get(installation_id)
        if cached is not None and cached.value == value:
            del self._tokens[installation_id]

    def _settle(self, installation_id: int, done: asyncio.Future[Token]) -> None:
        self._inflight.pop(installation_id, None)
        if not done.cancelled() and done.exception() is None:
            self._tokens[installation_id] = done.result()
