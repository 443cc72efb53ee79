"""Configuration problems as values: where (file and path inside it) and what.

A loader collects every problem it finds instead of stopping at the first, so a user fixes a
broken change in one round.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

ROOT_PATH = "(top)"  # the path of a problem with a whole document (empty file, not a mapping, ...)

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True, order=True)
class ConfigError:
    """One problem: ``str()`` gives ``<file>: <path>: <message>``.

    ``file`` is shown relative to the configuration root's parent (``teams/alpha/team.yaml``);
    ``path`` locates the value inside the file (``apps[3].downstream[0]``), or a line and column
    for YAML syntax errors.
    """

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


class ConfigInvalid(Exception):
    """Raised by ``load_config_or_raise``; ``errors`` holds every problem found."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors = tuple(errors)
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"invalid configuration ({len(self.errors)} problem(s)):\n{lines}")


def format_path(parts: Iterable[str | int]) -> str:
    """``["apps", 3, "downstream", 0]`` -> ``apps[3].downstream[0]``; ``[]`` -> ``(top)``.

    Keys that are not plain words are quoted: ``apps["my.app"]``.
    """
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text or ROOT_PATH


def describe(value: object) -> str:
    """A short, quoted rendering of a YAML value for messages (long values are cut)."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
