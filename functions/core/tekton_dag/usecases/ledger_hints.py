"""What the all-in-one's worker processes last wrote to each team's admission ledger, shared as files.

``tekton-dag serve all-in-one --workers N`` runs N run-creators that write one ledger Lease per
team with optimistic concurrency (``usecases.creating``). Each writes from the copy it wrote last,
so with two busy workers almost every write followed one by the other worker and was refused:
a 409, a read, and the write again -- three API requests where one would do (measured in
docs/performance.md). After each successful write a worker leaves the Lease's ``resourceVersion``
and ledger text here; before its next write another worker whose copy is older starts from that
instead, as if it had just read the Lease.

Only a hint: the write stays conditional on the version, so a hint that is stale (two workers'
notes crossed) or missing costs what it cost before -- a 409 and a read -- never a wrong
admission. The files live beside the workers' journals, owner-only, and are trusted as far as
the journals are (a process that can write there can also replay the journal).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tekton_dag.usecases.ledger_turns import Turns

HINTS_ENV = "TEKTON_DAG_LEDGER_HINTS"  # the directory the workers share (set by ``serve --workers N``, N > 1)


class LedgerHints:
    """Per ledger (``namespace/name``): the version and text a worker wrote last (module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # path → (stat key, version, text) as last read: unchanged files are not read again
        self._read: dict[Path, tuple[tuple[int, int, int], str, str]] = {}
        self.turns = Turns(directory)  # so that the workers' writes come one at a time

    @classmethod
    def from_env(cls, env: dict[str, str]) -> LedgerHints | None:
        directory = env.get(HINTS_ENV, "").strip()
        return cls(Path(directory)) if directory else None

    def turn(self, namespace: str, name: str) -> contextlib.AbstractAsyncContextManager[bool]:
        """The workers' turn at writing ledger ``namespace/name`` (``usecases.ledger_turns``)."""
        return self.turns.turn(self._path(namespace, name).name)

    def close(self) -> None:
        """Stop taking turns: the other workers stop waking this one (``Turns.close``)."""
        self.turns.close()

    def _path(self, namespace: str, name: str) -> Path:
        return self.directory / f"{namespace}.{name}"  # both DNS names: no separator or dot-dot inside

    def latest(self, namespace: str, name: str) -> tuple[str, str] | None:
        """(version, ledger text) of the last write any worker noted; None when none is known."""
        path = self._path(namespace, name)
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        known = self._read.get(path)
        if known is not None and known[0] == key:
            return known[1], known[2]
        try:
            version, _, text = path.read_text(encoding="utf-8").partition("\n")
        except (OSError, UnicodeDecodeError):
            return None
        if not version or not text:
            return None
        self._read[path] = (key, version, text)
        return version, text

    def wrote(self, namespace: str, name: str, version: str, text: str) -> None:
        """Note a successful write (replacing the file at once: a reader sees the old or the new note)."""
        path = self._path(namespace, name)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(f"{version}\n{text}")
            os.replace(partial, path)
            stat = path.stat()
            self._read[path] = ((stat.st_ino, stat.st_mtime_ns, stat.st_size), version, text)  # not read back
        except OSError:  # a hint is only a hint: the next write reads the Lease instead
            with contextlib.suppress(OSError):
                partial.unlink()
