"""Registry credentials in docker ``config.json`` format (what ``docker login`` and Kubernetes
``kubernetes.io/dockerconfigjson`` Secrets hold).

Where they come from, first match wins:

1. ``TEKTON_DAG_REGISTRY_AUTH``: the JSON document itself (e.g. a Secret key mapped to env);
2. ``REGISTRY_AUTH_FILE``: the path of such a file (the containers-tools convention; a mounted
   ``.dockerconfigjson`` works as is);
3. ``$DOCKER_CONFIG/config.json``, then ``~/.docker/config.json``.

Entries are ``auths.<host>`` with ``auth`` (base64 ``user:password``) or ``username`` and
``password``. Keys may be written as ``host``, ``https://host`` or ``https://host/v1/``. Credential
helpers (``credsStore``, ``credHelpers``) and ``identitytoken`` are not supported: such hosts are
queried anonymously. Credentials are never logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tekton_dag.syntax import SECRET_FILE_LIMIT, file_text

AUTH_ENV = "TEKTON_DAG_REGISTRY_AUTH"
AUTH_FILE_ENV = "REGISTRY_AUTH_FILE"
DOCKER_CONFIG_ENV = "DOCKER_CONFIG"
DOCKER_HUB_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io")


class CredentialsError(ValueError):
    """A credentials document that cannot be read (the message names the source, never a secret)."""


@dataclass(frozen=True)
class BasicCredentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class CredentialStore:
    """``host -> credentials``, looked up by registry host (``localhost:5000``, ``docker.io``)."""

    by_host: Mapping[str, BasicCredentials] = field(default_factory=dict)
    source: str = ""

    def for_host(self, host: str) -> BasicCredentials | None:
        if host in self.by_host:
            return self.by_host[host]
        if host in DOCKER_HUB_KEYS:
            return next((self.by_host[k] for k in DOCKER_HUB_KEYS if k in self.by_host), None)
        return None


def load_credentials(environ: Mapping[str, str] | None = None) -> CredentialStore:
    """Credentials from the environment's sources (module docstring); empty when there are none."""
    env = os.environ if environ is None else environ
    if env.get(AUTH_ENV):
        return parse_config(env[AUTH_ENV], source=f"${AUTH_ENV}")
    for path in _candidate_files(env):
        if path.is_file():
            try:
                text = file_text(path, SECRET_FILE_LIMIT)  # mounted from a docker-registry Secret
            except OSError as exc:
                raise CredentialsError(f"{path}: cannot read: {exc.strerror}") from exc
            except UnicodeDecodeError:  # its bytes are secrets: named, not shown
                raise CredentialsError(f"{path}: not UTF-8 text") from None
            return parse_config(text, source=str(path))
    return CredentialStore()


def _candidate_files(env: Mapping[str, str]) -> list[Path]:
    files = []
    if env.get(AUTH_FILE_ENV):
        files.append(Path(env[AUTH_FILE_ENV]))
    if env.get(DOCKER_CONFIG_ENV):
        files.append(Path(env[DOCKER_CONFIG_ENV]) / "config.json")
    if env.get("HOME"):
        files.append(Path(env["HOME"]) / ".docker" / "config.json")
    return files


def parse_config(text: str, source: str) -> CredentialStore:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CredentialsError(f"{source}: not valid JSON (line {exc.lineno})") from exc
    except RecursionError:
        raise CredentialsError(f"{source}: JSON nested too deeply") from None
    auths = document.get("auths", {}) if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        raise CredentialsError(f"{source}: 'auths' must be an object")
    found = {}
    for key, entry in auths.items():
        credentials = _entry(entry, f"{source}: auths.{key}")
        if credentials is not None:
            found[normalise_host(key)] = credentials
    return CredentialStore(found, source)


def _entry(entry: Any, where: str) -> BasicCredentials | None:
    if not isinstance(entry, dict):
        raise CredentialsError(f"{where}: must be an object")
    if entry.get("username") and entry.get("password"):
        return BasicCredentials(str(entry["username"]), str(entry["password"]))
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise CredentialsError(f"{where}.auth: not base64 of 'user:password'") from exc
        username, colon, password = decoded.partition(":")
        if not colon:
            raise CredentialsError(f"{where}.auth: not base64 of 'user:password'")
        return BasicCredentials(username, password)
    return None  # identitytoken-only or empty entries: anonymous


def normalise_host(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``index.docker.io``; ``localhost:5000`` stays."""
    host = key.split("://", 1)[-1]
    return host.split("/", 1)[0].lower()
