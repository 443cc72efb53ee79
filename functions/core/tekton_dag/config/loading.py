"""Loading a configuration root into a validated ``Config``, or every reason it is invalid.

Layout (docs/configuration.md)::

    teams/                      <- the root (``--teams DIR``)
      <team>/team.yaml          <- one directory per team; the name equals the directory
      <team>/stacks/*.yaml      <- stack files listed in team.yaml's ``stacks``
      <team>/versions.yaml      <- optional

When the root does not exist, ``stacks/registry.yaml`` beside it is loaded as the one implicit
team ``default`` (the earlier system's layout). Either way the result is all or nothing:
``LoadResult.config`` is ``None`` whenever ``errors`` is not empty.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tekton_dag.config import building, checks, fastyaml, parallel, validation
from tekton_dag.config.documents import read_yaml
from tekton_dag.config.errors import ROOT_PATH, ConfigError, ConfigInvalid, describe, format_path
from tekton_dag.config.models import DEFAULT_TEAM, Config, Team
from tekton_dag.syntax import CONFIG_FILE_LIMIT, file_bytes

__all__ = ["ConfigError", "ConfigInvalid", "LoadResult", "TeamCache", "load_config", "load_config_or_raise",
           "registry_fallback"]

TEAMS_DIR_ENV = "TEKTON_DAG_TEAMS_DIR"
DEFAULT_TEAMS_DIR = "teams"
TEAM_FILE = "team.yaml"
VERSIONS_FILE = "versions.yaml"
REGISTRY_FILE = PurePosixPath("stacks/registry.yaml")
FALLBACK_NAMESPACE = "default"
# yaml-rs parses a stack file in a fraction of libyaml's event path (~0.3 ms for 4.6 KB here), but
# importing it maps ~7 MB into every process: from this many teams to parse it pays for itself.
# Below it (a function of a few teams, a reload of the teams that changed) libyaml reads them.
NATIVE_PARSER_TEAMS = 16
TEAM_KINDS: tuple[validation.Kind, ...] = ("team", "stack", "versions")  # the files of teams/<team>/
# Directories a stack file may be in below its team's directory ("stacks/shop.yaml": 1). The
# team's digest (TeamCache) and the tree's fingerprint (reloads, snapshots) look this deep and no
# deeper, so a stack file deeper than this is refused: a change to it would go unseen.
MAX_STACK_DIRS = 4


def registry_fallback(root: Path | str) -> Path | None:
    """``stacks/registry.yaml`` beside ``root`` when it is what a load of ``root`` reads (no
    ``root`` directory): the earlier system's layout, accepted during a migration."""
    root = Path(root)
    fallback = root.absolute().parent / REGISTRY_FILE
    return fallback if not root.is_dir() and fallback.is_file() else None


@dataclass(frozen=True)
class LoadResult:
    config: Config | None
    errors: tuple[ConfigError, ...]

    @property
    def ok(self) -> bool:
        return self.config is not None


class TeamCache:
    """Teams from earlier loads, reused while none of their files changed.

    A team depends only on the files in its directory (stack paths cannot leave it), so a team
    whose files have the same content as last time is the same ``Team``: a reload after one
    team's change re-reads every file but parses and checks only that team. Content is compared,
    not timestamps, because a ConfigMap update rewrites every file. Checks across teams
    (namespaces) still run on every load.
    """

    def __init__(self) -> None:
        self._teams: dict[str, tuple[bytes, Team]] = {}
        self._seen: dict[str, tuple[bytes, Team]] = {}
        self._before: dict[str, tuple[bytes, Team]] = {}  # what ``finish`` replaced, for ``undo``

    def empty(self) -> bool:
        """No team kept yet (a first load): nothing a digest could find."""
        return not self._teams

    def get(self, directory: Path, digest: bytes) -> Team | None:
        entry = self._teams.get(str(directory))
        return entry[1] if entry is not None and entry[0] == digest else None

    def keep(self, directory: Path, digest: bytes, team: Team) -> None:
        self._seen[str(directory)] = (digest, team)

    def finish(self) -> None:
        """Forget teams that the last load did not see (deleted, or broken now)."""
        self._before, self._teams, self._seen = self._teams, self._seen, {}

    def undo(self) -> None:
        """Drop what the last load kept: the tree changed while it ran (``ConfigStore``), so a
        team's digest, taken before its files were parsed, may name other content than it holds."""
        self._teams, self._before = self._before, {}


def load_config(root: Path | str, cache: TeamCache | None = None) -> LoadResult:
    """Load and validate everything under ``root``; never raises for bad configuration.

    ``cache`` (kept by a long-running caller such as the reloader) skips unchanged teams.
    """
    return load_with_documents(root, cache)[0]


def load_with_documents(root: Path | str, cache: TeamCache | None = None
                        ) -> tuple[LoadResult, list[building.TeamDocuments]]:
    """``load_config``, and the documents of every team it parsed (not those ``cache`` reused)."""
    loader = _Loader(Path(root), cache)
    with collector_paused():
        config = loader.load()
    if cache is not None:
        cache.finish()
    errors = tuple(sorted(loader.errors, key=lambda e: e.file))  # stable: per file, in discovery order
    return LoadResult(None if errors else config, errors), loader.built


@contextmanager
def collector_paused() -> Iterator[None]:
    """Loading creates a few objects per YAML value and frees almost none, so the cyclic garbage
    collector would scan the growing config again and again (15-20% of a large load) for nothing.

    Afterwards the survivors are frozen (``gc.freeze``: kept out of later collections) before the
    collector restarts: otherwise its first run scans the million new objects once more (0.2-0.3 s
    for 1,000 teams). A replaced configuration is still freed by reference counting (it holds no
    cycles); only cyclic garbage made before the load stays until ``gc.unfreeze``.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()


def load_config_or_raise(root: Path | str) -> Config:
    """``load_config`` for callers that cannot go on without a config: raises ``ConfigInvalid``."""
    result = load_config(root)
    if result.config is None:
        raise ConfigInvalid(result.errors)
    return result.config


class _Loader:
    """One load: collects errors while reading, checking and building."""

    def __init__(self, root: Path, cache: TeamCache | None = None) -> None:
        self.root = root
        self.cache = cache
        # Files are named relative to the root's parent in messages: "teams/alpha/team.yaml".
        self.base = root.absolute().parent
        self.base_prefix = os.path.join(os.fspath(self.base), "")  # ends with the separator
        self.errors: list[ConfigError] = []
        self.built: list[building.TeamDocuments] = []  # the documents of each team parsed and built
        self.native = True  # parse with yaml-rs first (parse_teams: only when there are many)
        self.hashing = False  # take each team's digest where it is read (load_teams: a first load into a cache)

    def shown(self, path: Path) -> str:
        # String work, not pathlib's relative_to: called for every file (0.1 s for 3,000 files).
        text = os.fspath(path)
        absolute = text if os.path.isabs(text) else os.path.join(os.getcwd(), text)
        if absolute.startswith(self.base_prefix):
            return absolute[len(self.base_prefix):].replace(os.sep, "/")
        return path.as_posix()

    def read(self, path: Path, kind: validation.Kind) -> tuple[Any, bool]:
        """The document and whether it is valid against its schema (problems are recorded)."""
        shown = self.shown(path)
        document, error = read_yaml(path, shown, self.native)
        if error is not None:
            self.errors.append(error)
            return None, False
        problems = validation.check(kind, document, shown)
        self.errors.extend(problems)
        return document, not problems

    def load(self) -> Config | None:
        if self.root.is_dir():
            teams = self.load_teams()
        elif (fallback := registry_fallback(self.root)) is not None:
            teams = [self.load_registry(fallback)]
        else:
            what = "not a directory" if self.root.exists() else "no such directory"  # a file, a FIFO...
            self.errors.append(ConfigError(self.shown(self.root), ROOT_PATH,
                                           f"{what} (and no {REGISTRY_FILE} beside it)"))
            return None
        loaded = [team for team in teams if team is not None]
        self.errors.extend(checks.namespace_problems(
            [checks.NamespaceClaim(t.name, t.namespace, t.shared_namespace, t.source) for t in loaded]))
        if self.errors:
            return None
        return Config(teams=tuple(sorted(loaded, key=lambda t: t.name)), root=str(self.root))

    # -- teams/<team>/...

    def load_teams(self) -> list[Team | None]:
        try:
            directories = sorted(
                entry for entry in self.root.iterdir()
                # Hidden entries include a ConfigMap mount's "..data" and "..<timestamp>" directories.
                if not entry.name.startswith(".") and entry.is_dir()
            )
        except OSError as exc:
            self.errors.append(ConfigError(self.shown(self.root), ROOT_PATH, f"cannot list: {exc.strerror or exc}"))
            return []
        if not directories:
            self.errors.append(ConfigError(self.shown(self.root), ROOT_PATH,
                                           f"no team directories (expected <team>/{TEAM_FILE})"))
        teams: list[Team | None] = [None] * len(directories)
        digests: dict[int, bytes] = {}
        todo: list[int] = []
        # A cache that holds teams: each directory's digest first, to reuse unchanged teams. An
        # empty one (a first load): each digest is taken where its team is read, on every core.
        reusable = self.cache if self.cache is not None and not self.cache.empty() else None
        for i, directory in enumerate(directories):
            if reusable is not None:
                digests[i] = _digest(directory)
                teams[i] = reusable.get(directory, digests[i])
            if teams[i] is None:
                todo.append(i)
        self.hashing = self.cache is not None and reusable is None
        for i, (documents, digest) in zip(todo, self.parse_teams([directories[i] for i in todo]), strict=True):
            if digest is not None:
                digests[i] = digest
            if documents is not None:
                teams[i] = self.build(documents)
        if self.cache is not None:
            for i, team in enumerate(teams):
                if team is not None:
                    self.cache.keep(directories[i], digests[i], team)
        return teams

    def parse_teams(self, directories: list[Path]) -> Iterator[tuple[building.TeamDocuments | None, bytes | None]]:
        """``read_team`` of each directory, in order; on several cores when there are many (the
        caller builds each team as it comes, while children still parse theirs)."""
        self.native = len(directories) >= NATIVE_PARSER_TEAMS
        count = parallel.processes(len(directories))
        if count == 1:
            yield from map(self.read_team, directories)
            return
        own, *others = parallel.shares(directories, count)
        _prepare(self.native)
        children = [parallel.Child(self.parse_team_to_send, share) for share in others]
        try:
            for directory in own:
                yield self.read_team(directory)
                for child in children:
                    child.drain()  # so that no child waits on a full pipe meanwhile
            for child, share in zip(children, others, strict=True):
                for directory, answer in zip(share, child.answers(), strict=True):
                    if answer is None:  # the child could not send it: read it here
                        yield self.read_team(directory)
                    else:
                        problems, documents, digest = answer
                        self.errors.extend(ConfigError(*problem) for problem in problems)
                        yield documents, digest
        finally:  # also when the load stops early (an exception): no child left behind
            for child in children:
                child.close()

    def parse_team_to_send(self, directory: Path) -> tuple[list[tuple[str, str, str]], Any, bytes | None]:
        """``read_team`` in a child process: its problems, documents and digest as plain data."""
        before = len(self.errors)
        documents, digest = self.read_team(directory)
        return [(e.file, e.path, e.message) for e in self.errors[before:]], documents, digest

    def read_team(self, directory: Path) -> tuple[building.TeamDocuments | None, bytes | None]:
        """``parse_team``, and the directory's digest when the load keeps teams (``hashing``),
        taken before the files are parsed: a file changed in between then changes the next
        digest, and the team is read again, rather than kept under the digest of its new files."""
        digest = _digest(directory) if self.hashing else None
        return self.parse_team(directory), digest

    def parse_team(self, directory: Path) -> building.TeamDocuments | None:
        """The documents of a valid team, or ``None`` (its problems are recorded)."""
        team_file = directory / TEAM_FILE
        shown = self.shown(team_file)
        if not team_file.is_file():  # said as it is: a directory or a dangling link is there, yet no file
            what = ("missing" if not os.path.lexists(team_file) else "not a file" if team_file.exists()
                    else "a symbolic link to nothing")
            self.errors.append(ConfigError(shown, ROOT_PATH, f"{what}: every team directory needs a team.yaml"))
            return None
        before = len(self.errors)
        document, valid = self.read(team_file, "team")
        if not isinstance(document, dict):
            return None
        name = document.get("name")
        if isinstance(name, str) and name != directory.name:
            message = f"team name {describe(name)} differs from its directory {describe(directory.name)}"
            self.errors.append(ConfigError(shown, "name", message))
        team_name = name if isinstance(name, str) else directory.name
        self.errors.extend(checks.duration_problems(document, shown))
        self.errors.extend(checks.timeout_problems(document, shown))
        self.errors.extend(checks.resource_problems(document, shown))
        self.errors.extend(checks.details_url_problems(document, shown))
        stacks = self.load_stack_files(directory, document.get("stacks"), shown)
        versions = self.load_versions(directory / VERSIONS_FILE, stacks, team_name)
        self.check_team_stacks(stacks, team_name)
        if len(self.errors) > before or not valid:
            return None
        return _team_documents(document, shown, stacks, versions)

    def build(self, documents: building.TeamDocuments) -> Team:
        self.built.append(documents)
        return building.team_from_documents(documents)

    def load_stack_files(self, directory: Path, entries: Any, shown_team: str) -> list[checks.StackFile]:
        if not isinstance(entries, list):
            return []
        stacks = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, str) or not validation.FORMATS["relative-path"](entry):
                continue  # the schema reported it
            path = directory / entry
            if entry.replace("\\", "/").count("/") > MAX_STACK_DIRS:
                message = (f"stack file {describe(entry)} is more than {MAX_STACK_DIRS} directories deep "
                           f"(changes to it would not be noticed)")
                self.errors.append(ConfigError(shown_team, f"stacks[{i}]", message))
                continue
            if not path.is_file():
                message = f"stack file {describe(entry)} does not exist"
                self.errors.append(ConfigError(shown_team, f"stacks[{i}]", message))
                continue
            stack = self.load_stack(path)
            if stack is not None:
                stacks.append(stack)
        return stacks

    def load_stack(self, path: Path) -> checks.StackFile | None:
        document, valid = self.read(path, "stack")
        if document is None:
            return None
        stack = checks.StackFile(self.shown(path), document)
        self.errors.extend(checks.stack_problems(stack, valid))
        return stack

    def check_team_stacks(self, stacks: list[checks.StackFile], team: str) -> None:
        self.errors.extend(checks.stack_name_problems(stacks, team))
        self.errors.extend(checks.app_repo_problems(stacks, team))

    def load_versions(self, path: Path, stacks: list[checks.StackFile], team: str) -> Any:
        """The versions.yaml document (``None`` without one); problems are recorded."""
        if not path.exists():
            return None
        document, _ = self.read(path, "versions")
        self.errors.extend(checks.version_problems(document, self.shown(path), stacks, team))
        return document

    # -- stacks/registry.yaml (no teams directory)

    def load_registry(self, registry_file: Path) -> Team | None:
        before = len(self.errors)
        document, valid = self.read(registry_file, "registry")
        shown = self.shown(registry_file)
        stacks_dir = registry_file.parent
        repos = document.get("repos") if isinstance(document, dict) else None
        files: dict[str, checks.StackFile | None] = {}
        for app, entry in (repos or {}).items() if isinstance(repos, dict) else ():
            stack_name = entry.get("stack") if isinstance(entry, dict) else None
            if not isinstance(stack_name, str) or not validation.FORMATS["relative-path"](stack_name):
                continue
            if stack_name not in files:
                path = stacks_dir / stack_name
                if path.is_file():
                    files[stack_name] = self.load_stack(path)
                else:
                    files[stack_name] = None
                    self.errors.append(ConfigError(shown, format_path(["repos", app, "stack"]),
                                                   f"stack file {describe(stack_name)} does not exist"))
            self.check_registry_entry(files[stack_name], app, entry, shown)
        stacks = [s for s in files.values() if s is not None]
        versions = self.load_versions(stacks_dir / VERSIONS_FILE, stacks, DEFAULT_TEAM)
        self.check_team_stacks(stacks, DEFAULT_TEAM)
        if len(self.errors) > before or not valid:
            return None
        return self.build(_team_documents({"name": DEFAULT_TEAM, "namespace": FALLBACK_NAMESPACE}, shown,
                                          stacks, versions))

    def check_registry_entry(self, stack: checks.StackFile | None, app: str, entry: dict[str, Any],
                             shown: str) -> None:
        if stack is None or not isinstance(stack.document, dict):
            return
        defined = {a.get("name"): a for a in stack.document.get("apps") or () if isinstance(a, dict)}
        if app not in defined:
            self.errors.append(ConfigError(shown, format_path(["repos", app]),
                                           f"app {describe(app)} is not defined in {stack.shown_as}"))
        elif "role" in entry and entry["role"] != defined[app].get("role"):
            message = (f"role {describe(entry['role'])} differs from {describe(defined[app].get('role'))} "
                       f"in {stack.shown_as}")
            self.errors.append(ConfigError(shown, format_path(["repos", app, "role"]), message))


def _prepare(native: bool) -> None:
    """Import the YAML parser and compile the schemas before forking: every child needs them, and
    made once here (~40 ms) they are not made again in each child, whose share is the larger."""
    if native:
        fastyaml.yaml_rs()
    for kind in TEAM_KINDS:
        validation.fast_validator(kind)


def _team_documents(document: dict[str, Any], shown: str, stacks: list[checks.StackFile],
                    versions: Any) -> building.TeamDocuments:
    """What ``building.team_from_documents`` takes (and a snapshot keeps) of a valid team."""
    return document, shown, [(s.document, s.shown_as) for s in stacks], versions


def _digest(directory: Path) -> bytes:
    """A hash of every visible file's name and content under ``directory`` (by path strings and
    one unbuffered read a file: a first load into a cache takes 1,000 of these)."""
    digest = hashlib.blake2b(digest_size=20)
    base = os.path.join(os.fspath(directory), "")
    for path in sorted(_files(base, 0), key=_parts):  # pathlib's order: part by part
        digest.update(path[len(base):].replace(os.sep, "/").encode() + b"\0")
        try:
            digest.update(file_bytes(path, CONFIG_FILE_LIMIT))
        except OSError as exc:  # the parse reports it; the digest only has to differ
            digest.update(repr(exc).encode())
            if exc.errno == errno.EFBIG:  # too large to read (any visible file, parsed or not)
                info = os.stat(path)
                digest.update(f"{info.st_ino} {info.st_size} {info.st_mtime_ns}".encode())
        digest.update(b"\0")
    return digest.digest()


def _parts(path: str) -> list[str]:
    return path.split(os.sep)


def _files(directory: str, depth: int) -> Iterator[str]:
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if depth < MAX_STACK_DIRS:
                yield from _files(entry.path, depth + 1)
        else:
            yield entry.path
