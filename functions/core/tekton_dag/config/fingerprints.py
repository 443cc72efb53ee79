"""What changes when any configuration file changes: a fingerprint of the tree.

Path, inode, size and mtime of every visible file, path and inode of every visible directory, plus
the target of a ``..data`` symlink (a Kubernetes ConfigMap volume swaps that link to update every
file at once). ``reloading`` compares fingerprints to notice a change and ``snapshots`` keys its
snapshot by one; a module of its own so that a process reading a snapshot does not import the
store's event loop and threads.
"""

from __future__ import annotations

import os
from pathlib import Path

from tekton_dag.config.loading import MAX_STACK_DIRS, REGISTRY_FILE

Fingerprint = tuple[tuple[str, int, int, int], ...]
# <team>/ and the directories a stack file may be in (loading.MAX_STACK_DIRS): deeper trees are
# not configuration (and symlink loops stop).
MAX_DEPTH = 1 + MAX_STACK_DIRS


def fingerprint(root: Path) -> Fingerprint:
    """What changes when any configuration file changes; the fallback tree when ``root`` is absent."""
    base = root if root.is_dir() else root.absolute().parent / REGISTRY_FILE.parent
    entries: list[tuple[str, int, int, int]] = []
    data_link = base / "..data"
    if data_link.is_symlink():
        entries.append((f"..data -> {os.readlink(data_link)}", 0, 0, 0))
    _walk(base, "", entries, 0)
    return (("root-is-dir" if root.is_dir() else "fallback", 0, 0, 0), *sorted(entries))


def _walk(directory: Path, prefix: str, entries: list[tuple[str, int, int, int]], depth: int) -> None:
    try:
        listing = list(os.scandir(directory))
    except OSError:
        return
    for entry in listing:
        if entry.name.startswith("."):  # ConfigMap bookkeeping ("..data", "..2024_..."), editor files
            continue
        name = prefix + entry.name
        try:
            if entry.is_dir():  # follows symlinks, as a ConfigMap mount needs
                # The directory itself too: a team directory with no file in it yet is an error for
                # the load ("needs a team.yaml"), and removing it must end that error.
                entries.append((name + "/", entry.inode(), 0, 0))  # from the listing: no system call
                if depth < MAX_DEPTH:
                    _walk(Path(entry.path), name + "/", entries, depth + 1)
                continue
            stat = entry.stat()  # follows symlinks: the content's file, not the link
        except OSError:  # vanished between listing and stat: the next fingerprint differs anyway
            continue
        entries.append((name, stat.st_ino, stat.st_size, stat.st_mtime_ns))
