"""Where webhook secrets come from, and which team each belongs to.

Shared secrets (any team): ``GITHUB_WEBHOOK_SECRET`` (comma-separated: several are active at once
while rotating) and/or the file named by ``GITHUB_WEBHOOK_SECRET_FILE`` (one secret per line or
comma-separated). A team's own secrets: the environment variable its ``team.yaml`` names in
``webhook.secretEnv``, and the Kubernetes Secret it names in ``webhook.secretName``, mounted as
``$TEKTON_DAG_TEAM_SECRETS_DIR/<secretName>/secret`` (default directory below).

A team secret must be the team's alone: a value that is also a shared secret or another team's
is not used as a team secret at all (logged, without the value). Otherwise one team's
``team.yaml`` (``secretEnv: GITHUB_WEBHOOK_SECRET``, or another team's variable) would claim
every delivery signed with that value, and the resolver would then ignore the other teams'
repositories in them. Files are re-read at most every ``REFRESH_S`` seconds: Kubernetes updates
mounted Secrets in place, so a rotation needs no restart. Secret values are never logged.

``SecretFile`` is one mounted Secret key read on every request (the REST API's bearer token): it
reads the file again only when the file changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from tekton_dag.config.models import Config, Team
from tekton_dag.syntax import SECRET_FILE_LIMIT, file_text

SHARED_ENV: Final = "GITHUB_WEBHOOK_SECRET"
SHARED_FILE_ENV: Final = "GITHUB_WEBHOOK_SECRET_FILE"
TEAM_SECRETS_DIR_ENV: Final = "TEKTON_DAG_TEAM_SECRETS_DIR"
DEFAULT_TEAM_SECRETS_DIR: Final = "/var/run/secrets/tekton-dag/teams"
TEAM_SECRET_KEY: Final = "secret"  # the key inside each team's Kubernetes Secret
REFRESH_S: Final = 10.0
SHARED: Final = ""  # owner of a shared secret; a team name owns a team secret

log = logging.getLogger(__name__)
_UNREADABLE: Final = (-1, -1, -1)  # SecretFile's stamp while its file cannot be read


def split_secrets(text: str) -> tuple[str, ...]:
    """Secrets from a comma- or newline-separated value, blanks dropped."""
    return tuple(part.strip() for part in text.replace("\n", ",").split(",") if part.strip())


class SecretFile:
    """The text of one mounted Secret key (stripped), read once and again only when the file changes.

    The kubelet updates a mounted Secret by writing its keys into a new timestamped directory and
    swapping the ``..data`` symlink to it (kubernetes/kubernetes#57422, atomic_writer.go; "Mounted
    Secrets are updated automatically", except subPath mounts:
    https://kubernetes.io/docs/concepts/configuration/secret/#using-secrets-as-files-from-a-pod).
    A stat of the path follows the symlinks to the new file, so (inode, mtime, size) change with
    every rotation: one stat per call, no open and read. A file rewritten in place at the same size
    within one mtime tick would go unnoticed until its next change; the kubelet never does that.
    An unreadable file reads as "" (logged when it becomes unreadable, not on every call)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._text = ""

    @property
    def readable(self) -> bool:
        """Whether the last ``text()`` could read the file (an empty file is readable)."""
        return self._stamp != _UNREADABLE

    def text(self) -> str:
        try:
            stat = self.path.stat()  # follows symlinks: the file ..data points at now
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                self._text = file_text(self.path, SECRET_FILE_LIMIT).strip()
                self._stamp = stamp
        except (OSError, UnicodeDecodeError) as exc:  # not UTF-8: unreadable too, never a 500
            if self._stamp != _UNREADABLE:  # once, not on every call, until it is readable again
                log.warning("secret file %s unreadable (%s)", self.path, _why(exc))
            self._stamp, self._text = _UNREADABLE, ""
        return self._text


class SecretSource:
    """The active (owner, secret) pairs for a configuration, refreshed from files now and then."""

    def __init__(self, env: Mapping[str, str]):
        self._env = dict(env)
        self._team_dir = Path(self._env.get(TEAM_SECRETS_DIR_ENV) or DEFAULT_TEAM_SECRETS_DIR)
        self._cached: tuple[tuple[str, str], ...] = ()
        self._cached_for: Config | None = None
        self._read_at = float("-inf")
        self._warned: set[str] = set()
        self._warned_claims: set[tuple[str, str]] = set()

    def current(self, config: Config | None) -> tuple[tuple[str, str], ...]:
        if config is not self._cached_for or time.monotonic() - self._read_at > REFRESH_S:
            self._cached = self._read(config)
            self._cached_for = config
            self._read_at = time.monotonic()
        return self._cached

    def _read(self, config: Config | None) -> tuple[tuple[str, str], ...]:
        shared = self._shared_secrets()
        claims = [(team.name, secret) for team in (config.teams if config else ())
                  for secret in self._team_secrets(team)]
        owners: dict[str, set[str]] = {}
        for name, secret in claims:
            owners.setdefault(secret, set()).add(name)
        pairs: list[tuple[str, str]] = []
        for name, secret in claims:
            if secret in shared or len(owners[secret]) > 1:
                self._refuse(name, "the shared webhook secret" if secret in shared
                             else "also the webhook secret of team " + ", ".join(sorted(owners[secret] - {name})))
                continue
            pairs.append((name, secret))
        pairs.extend((SHARED, secret) for secret in shared)
        return tuple(pairs)

    def _refuse(self, team: str, why: str) -> None:
        if (team, why) not in self._warned_claims:  # once per team and reason: this is read every 10 s
            self._warned_claims.add((team, why))
            log.error("a webhook secret of team %s is %s: not used as team %s's (a team secret must be "
                      "its own; check webhook.secretEnv and webhook.secretName)", team, why, team)

    def _shared_secrets(self) -> tuple[str, ...]:
        secrets = split_secrets(self._env.get(SHARED_ENV, ""))
        path = self._env.get(SHARED_FILE_ENV)
        return secrets + (self._read_file(Path(path), SHARED_FILE_ENV) if path else ())

    def _team_secrets(self, team: Team) -> tuple[str, ...]:
        secrets: tuple[str, ...] = ()
        if team.webhook.secret_env:
            secrets += split_secrets(self._env.get(team.webhook.secret_env, ""))
        if team.webhook.secret_name:
            path = self._team_dir / team.webhook.secret_name / TEAM_SECRET_KEY
            secrets += self._read_file(path, f"team {team.name} webhook.secretName")
        return secrets

    def _read_file(self, path: Path, what: str) -> tuple[str, ...]:
        try:
            return split_secrets(file_text(path, SECRET_FILE_LIMIT))
        except (OSError, UnicodeDecodeError) as exc:  # not UTF-8: unreadable too, never a 500
            if str(path) not in self._warned:  # once: an absent optional file is not news every read
                self._warned.add(str(path))
                log.warning("webhook secret file for %s unreadable: %s (%s)", what, path, _why(exc))
            return ()


def _why(exc: OSError | UnicodeDecodeError) -> str:
    """What to log of a failed read: the OS's reason, never the bytes read (they are a secret)."""
    return exc.strerror or type(exc).__name__ if isinstance(exc, OSError) else "not UTF-8 text"
