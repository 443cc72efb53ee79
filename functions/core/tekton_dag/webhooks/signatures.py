"""``X-Hub-Signature-256`` verification: HMAC-SHA256 of the raw body, compared in constant time.

GitHub signs the exact bytes it sends, so this runs on the raw body before anything parses it.
Every candidate secret is tried (rotation: old and new are both active for a while); the result
says which one matched so the caller can scope the delivery to that secret's team.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Final, TypeVar

PREFIX: Final = "sha256="

Owner = TypeVar("Owner")


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body`` under ``secret``."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def matching_owner(body: bytes, header: str | None, secrets: Iterable[tuple[Owner, str]]) -> Owner | None:
    """The owner of the first secret whose signature equals ``header``; None when none does.

    Every secret is checked even after a match, so the time taken does not tell which matched.
    """
    if not header or not header.startswith(PREFIX):
        return None
    given = header.encode("ascii", "replace")
    found: Owner | None = None
    for owner, secret in secrets:
        if hmac.compare_digest(sign(secret, body).encode(), given) and found is None:
            found = owner
    return found
