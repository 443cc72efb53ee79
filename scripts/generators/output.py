"""Writing generated files, or (``--check``) naming the stale ones: shared by the generators here.

A generator computes every file it owns as text (path → text); ``apply`` then writes the files that
differ, or with ``check`` writes nothing and names each stale or missing file on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def apply(files: dict[Path, str], *, root: Path, check: bool) -> int:
    """Write the stale files (or name them, with ``check``); 1 when ``check`` found any stale."""
    stale = [path for path, text in files.items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    for path in stale:
        shown = path.relative_to(root).as_posix()
        if check:
            print(f"{shown}: stale: run scripts/generate", file=sys.stderr)
        else:
            path.write_text(files[path], encoding="utf-8")
            print(f"wrote {shown}")
    return 1 if check and stale else 0
