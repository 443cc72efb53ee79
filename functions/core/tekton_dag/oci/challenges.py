"""``WWW-Authenticate`` challenges of a Distribution registry (RFC 7235 auth-params).

A registry answers 401 with either ``Bearer realm="…",service="…",scope="…"`` (token auth: get a
token from ``realm``) or ``Basic realm="…"`` (send credentials with every request).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_PARAM = re.compile(r'([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercase: "bearer" or "basic" (others are reported, not answered)
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` value, or ``None`` when it is empty."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {}
    for match in _PARAM.finditer(rest):
        name, quoted, plain = match.groups()
        params[name.lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else plain
    return Challenge(scheme.lower(), params)
