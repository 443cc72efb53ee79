"""How the GitHub client is configured: environment variables only (docs/github.md lists them).

- ``GITHUB_API_URL``: the REST API root (default ``https://api.github.com``; GitHub Enterprise
  Server: ``https://HOST/api/v3``; tests and ``tekton-dag dev``: the loopback double).
- ``GITHUB_APP_ID`` + ``GITHUB_APP_PRIVATE_KEY_FILE``: a GitHub App (check runs, ``mode == "checks"``).
- ``GITHUB_TOKEN_FILE``: a plain token, the fallback (commit statuses, ``mode == "statuses"``).
- ``GITHUB_API_DEADLINE_SECONDS``: how long one call may take, retries and waits included (default 20).
- ``GITHUB_WRITE_INTERVAL_SECONDS``: the least time between two writes of one installation (or token),
  from one's answer to the next one's start (default 1, what GitHub asks; ``pacing``). 0: one at a time,
  not spaced (tests).
- ``GITHUB_NOTIFICATION_INTERVAL_SECONDS``: the least time between two writes of one installation (or
  token) that notify people, e.g. PR comments (default 3, octokit's ``notifications`` group; ``pacing``),
  on top of the write interval. 0 to 60.

Secrets are read from files (a mounted Secret), never from the environment itself; the client
reads them again when they change (``github.client``, "Rotation").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from tekton_dag.github.pacing import DEFAULT_INTERVAL_S, DEFAULT_NOTIFICATION_INTERVAL_S
from tekton_dag.syntax import SECRET_FILE_LIMIT, decimal, file_text, http_url_problem

DEFAULT_API_URL: Final = "https://api.github.com"
DEFAULT_DEADLINE_S: Final = 20.0
MAX_DEADLINE_S: Final = 3600.0  # exclusive; the chart's values schema states the same bounds (github.deadlineSeconds)
# more would hold every write (or comment) of an installation for minutes; the chart's schema says the same
MAX_WRITE_INTERVAL_S: Final = 60.0


class SettingsError(ValueError):
    """The environment names a GitHub setup that cannot work; the message says which variable."""


@dataclass(frozen=True)
class AppCredentials:
    app_id: str
    private_key: str  # PEM, as read at start
    key_file: str = ""  # where it was read: the client reads it again when it changes (a rotation)

    def __repr__(self) -> str:  # never print the key
        return f"AppCredentials(app_id={self.app_id!r})"


@dataclass(frozen=True)
class Settings:
    api_url: str = DEFAULT_API_URL
    app: AppCredentials | None = None
    token: str | None = None
    token_file: str = ""  # where the token was read: the client reads it again when it changes
    deadline_s: float = DEFAULT_DEADLINE_S
    write_interval_s: float = DEFAULT_INTERVAL_S
    notification_interval_s: float = DEFAULT_NOTIFICATION_INTERVAL_S

    def __repr__(self) -> str:
        return f"Settings(api_url={self.api_url!r}, app={self.app!r}, token={'set' if self.token else None})"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings | None:
        """The settings the environment gives, or None when it configures no GitHub access at all."""
        app_id = env.get("GITHUB_APP_ID", "").strip()
        key_file = env.get("GITHUB_APP_PRIVATE_KEY_FILE", "").strip()
        token_file = env.get("GITHUB_TOKEN_FILE", "").strip()
        if bool(app_id) != bool(key_file):
            raise SettingsError("GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_FILE go together: set both or neither")
        if not app_id and not token_file:
            return None
        app = AppCredentials(app_id, _read(key_file, "GITHUB_APP_PRIVATE_KEY_FILE"), key_file) if app_id else None
        if app is not None and not looks_like_pem(app.private_key):
            raise SettingsError(f"GITHUB_APP_PRIVATE_KEY_FILE: {key_file} is not a PEM private key")
        token = _read(token_file, "GITHUB_TOKEN_FILE") if token_file else None
        deadline = _seconds(env, "GITHUB_API_DEADLINE_SECONDS", DEFAULT_DEADLINE_S, lambda s: 0 < s < MAX_DEADLINE_S,
                            MAX_DEADLINE_S)
        write_interval = _interval(env, "GITHUB_WRITE_INTERVAL_SECONDS", DEFAULT_INTERVAL_S)
        notification_interval = _interval(env, "GITHUB_NOTIFICATION_INTERVAL_SECONDS", DEFAULT_NOTIFICATION_INTERVAL_S)
        api_url = env.get("GITHUB_API_URL", "").strip().rstrip("/") or DEFAULT_API_URL
        problem = http_url_problem(api_url)  # else the client fails at the first call, not here
        if problem:
            raise SettingsError(f"GITHUB_API_URL: {api_url!r} {problem}")
        return cls(api_url=api_url, app=app, token=token, token_file=token_file if token else "",
                   deadline_s=deadline, write_interval_s=write_interval, notification_interval_s=notification_interval)


def looks_like_pem(text: str) -> bool:
    """Whether ``text`` can be a PEM private key (GitHub's download is PKCS#1, "BEGIN RSA PRIVATE KEY")."""
    return "PRIVATE KEY-----" in text


def _interval(env: Mapping[str, str], variable: str, default: float) -> float:
    """A pacing interval (seconds, 0 to MAX_WRITE_INTERVAL_S) from ``variable``; ``default`` when unset."""
    return _seconds(env, variable, default, lambda s: 0 <= s <= MAX_WRITE_INTERVAL_S, MAX_WRITE_INTERVAL_S)


def _seconds(env: Mapping[str, str], variable: str, default: float, fits: Callable[[float], bool],
             most: float) -> float:
    """Seconds from ``variable`` (an ASCII decimal), ``default`` when unset; SettingsError naming the
    variable when it is no number or does not ``fit`` (said as "between 0 and ``most``")."""
    raw = env.get(variable, "").strip()
    value = decimal(raw) if raw else default
    if value is None:
        raise SettingsError(f"{variable}: {raw!r} is not a number")
    if not fits(value):
        raise SettingsError(f"{variable}: {raw!r} must be between 0 and {most:g}")
    return value


def _read(path: str, variable: str) -> str:
    try:
        text = file_text(path, SECRET_FILE_LIMIT).strip()
    except OSError as exc:
        raise SettingsError(f"{variable}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:  # the file's bytes are a secret: named, not shown
        raise SettingsError(f"{variable}: {path} is not UTF-8 text") from None
    if not text:
        raise SettingsError(f"{variable}: {path} is empty")
    return text
