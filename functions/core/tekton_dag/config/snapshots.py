"""A validated snapshot of the configuration on disk, so a cold start skips parsing and checking.

A process that starts (``tekton-dag resolve``, a function's first load) would read, parse and
validate every file again: about 3 s for 1,000 teams x 40 apps (bench/config_load.py). After a
valid load, ``load_config_cached`` writes the validated documents of every team to one file in
the cache directory; the next start that finds every file as it was rebuilds the model from
them (no YAML, no schema, no checks) in a fraction of the time.

When a snapshot is used, and when it is not:
- Keyed by the configuration's fingerprint (``fingerprints.fingerprint``: path, inode, size and
  modification time of every visible file under the root, and a ConfigMap's ``..data`` link),
  by the package version and by a hash of the config package's code and schemas (an editable
  install changes code without changing its version), and by the Python version. Any
  difference, and the files are loaded as without a cache.
- Written only for a valid configuration whose files did not change during the load and were
  not modified in the last ``RACY_S`` seconds (a change within the file system's timestamp
  granularity could keep the same fingerprint: git's "racily clean" problem).
- Written atomically (a temporary file renamed over the old one), readable by its owner only;
  a snapshot that is not the owner's, is truncated, corrupt or from another version is ignored.
  A cache directory that cannot be written (read-only) only means no snapshot.
- Stored with ``marshal``, which holds only plain data (it runs no code when read, unlike pickle)
  and reads 40,000 apps in ~0.05-0.15 s (orjson and msgspec measured the same; see
  docs/performance.md). The key is marshalled apart, ahead of the documents, so a snapshot that
  no longer matches is refused without reading them.

``TEKTON_DAG_CONFIG_CACHE`` chooses the directory, or turns the cache off with ``off``; the
default is ``$XDG_CACHE_HOME/tekton-dag`` (``~/.cache/tekton-dag``).
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tekton_dag.config import building
from tekton_dag.config.fingerprints import fingerprint
from tekton_dag.config.loading import LoadResult, TeamCache, collector_paused, load_with_documents
from tekton_dag.config.models import Config

log = logging.getLogger(__name__)

CACHE_ENV = "TEKTON_DAG_CONFIG_CACHE"
OFF = frozenset({"off", "0", "false", "no", "none"})
FORMAT = 2  # bump when what a snapshot holds changes shape (2: the key apart, before the documents)
_LENGTH = 8  # bytes of the key's length, first in the file
RACY_S = 2.0


def cache_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """Where snapshots live, or ``None`` when the cache is off."""
    env = os.environ if env is None else env
    chosen = env.get(CACHE_ENV, "").strip()
    if chosen.lower() in OFF:
        return None
    if chosen:
        return Path(chosen)
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tekton-dag"


def load_config_cached(root: Path | str, cache: TeamCache | None = None,
                       env: Mapping[str, str] | None = None) -> LoadResult:
    """``load_config(root, cache)``, from a snapshot when one matches the files on disk.

    Same result and same errors as ``load_config``; never raises for a missing or bad cache.
    """
    directory = cache_dir(env)
    if directory is None:
        return load_with_documents(root, cache)[0]
    # os.fsencode: a root whose name is not UTF-8 (surrogate escapes) has bytes too; str.encode() raised
    path = directory / f"{hashlib.blake2b(os.fsencode(Path(root).absolute()), digest_size=16).hexdigest()}.snapshot"
    seen = fingerprint(Path(root))
    key = (FORMAT, code_version(), str(Path(root).absolute()), seen)
    config = _read(path, key)
    if config is not None:
        return LoadResult(replace(config, root=str(Path(root))), ())
    result, documents = load_with_documents(root, cache)
    complete = result.config is not None and len(documents) == len(result.config.teams)  # none reused
    # Not a tree that changed while it was read, nor one changed within the timestamps' granularity.
    if complete and not _racy(seen) and fingerprint(Path(root)) == seen:
        _write(path, key, documents)
    return result


@cache
def code_version() -> str:
    """The package version and a hash of the code and schemas that make a ``Config`` (also the
    lower modules its checks apply: a step added to ``pipelines.STEP_RESOURCES`` changes what is valid)."""
    from tekton_dag import __version__

    digest = hashlib.blake2b(digest_size=16)
    package = resources.files("tekton_dag.config")
    for name in sorted(p.name for p in package.iterdir() if p.name.endswith(".py")):
        digest.update(name.encode() + b"\0" + package.joinpath(name).read_bytes())
    below = resources.files("tekton_dag")  # the modules of lower layers whose facts the checks apply
    for name in ("pipelines.py", "syntax.py"):
        digest.update(name.encode() + b"\0" + below.joinpath(name).read_bytes())
    schemas = package.joinpath("schemas")
    for name in sorted(p.name for p in schemas.iterdir() if p.name.endswith(".json")):
        digest.update(name.encode() + b"\0" + schemas.joinpath(name).read_bytes())
    return f"{__version__} {digest.hexdigest()} py{sys.version_info[0]}.{sys.version_info[1]}"


def _racy(seen: tuple[tuple[str, int, int, int], ...]) -> bool:
    newest = max((mtime for _, _, _, mtime in seen), default=0)
    return newest >= time.time_ns() - int(RACY_S * 1e9)


def _read(path: Path, key: tuple[Any, ...]) -> Config | None:
    try:
        with path.open("rb") as file:
            if os.fstat(file.fileno()).st_uid != os.geteuid():
                return None  # someone else's file: not trusted
            data = file.read()
    except OSError:
        return None
    try:
        # The key first, on its own: a snapshot of files that changed since is refused without
        # reading its documents (unmarshalling 40,000 apps is most of a warm start).
        end = _key_end(data)
        if end is None:
            log.debug("ignoring the configuration snapshot %s: not one this version wrote", path)
            return None
        if marshal.loads(data[_LENGTH:end]) != key:
            return None
        # Paused for the documents too: reading them makes a million objects and frees none, so
        # the collector would scan them again and again (half of the unmarshalling's time here).
        with collector_paused():
            documents = marshal.loads(memoryview(data)[end:])
            teams = [building.team_from_documents(d) for d in documents]
        return Config(teams=tuple(sorted(teams, key=lambda t: t.name)), root="")
    except Exception as exc:  # a truncated, corrupt or foreign file: load without it
        log.warning("ignoring the configuration snapshot %s: %s", path, exc)
        return None


def pack(key: tuple[Any, ...], documents: list[building.TeamDocuments]) -> bytes:
    """A snapshot's bytes: the key's length, the key, the documents (each marshalled)."""
    header = marshal.dumps(key)
    return len(header).to_bytes(_LENGTH, "big") + header + marshal.dumps(documents)


def _key_end(data: bytes) -> int | None:
    """Where a snapshot's key ends and its documents begin; None when the length it starts with
    runs past the end (an earlier format, one marshalled tuple, or a file cut short)."""
    end = _LENGTH + int.from_bytes(data[:_LENGTH], "big")
    return end if end <= len(data) else None


def stored_key(data: bytes) -> Any:
    """The key a snapshot's bytes were written under (ValueError: not a snapshot of this format)."""
    end = _key_end(data)
    if end is None:
        raise ValueError("not a configuration snapshot of this format")
    return marshal.loads(data[_LENGTH:end])


def _write(path: Path, key: tuple[Any, ...], documents: list[building.TeamDocuments]) -> None:
    try:
        data = pack(key, documents)
    except ValueError:  # a value marshal cannot hold (a YAML date in a free-form field): no snapshot
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".snapshot-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as exc:  # read-only or full: the cache is only an optimisation
        log.debug("no configuration snapshot written to %s: %s", path.parent, exc)
