"""Log lines that input from outside cannot forge.

tekton-dag logs values it was sent: an event's id, a delivery's header, a repository's name, an
API's answer. Logged with ``%s``, a value holding a line break would start a line of its own,
which a reader or a log pipeline (one record per line) takes for one of ours: a forged "run
created" under a real one. ``install`` escapes control characters in the *arguments* of every
record of a ``tekton_dag`` logger (a line break becomes ``\\n``, as ``repr`` writes it) before any
handler formats it; the message templates and tracebacks, which are ours, keep their lines.

A log-record factory rather than a filter: a filter on the ``tekton_dag`` logger sees only the
records logged on that very logger, not on its children, and the handlers are func-python's
(it configures the root logger when imported).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Final

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # C0, DEL, C1, Unicode line breaks
_OURS: Final = "tekton_dag"


def escaped(text: str) -> str:
    """``text`` with its control characters written as escapes, as ``repr`` would."""
    return _CONTROL.sub(lambda m: repr(m[0])[1:-1], text) if _CONTROL.search(text) else text


class _Escaped:
    """An argument that is no string (an exception, a path) whose text may hold a line break."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return escaped(str(self.value))

    def __repr__(self) -> str:
        return repr(self.value)  # repr escapes already


def _neutral(value: Any) -> Any:
    if isinstance(value, str):
        return escaped(value)
    if isinstance(value, (int, float)) or value is None:
        return value  # %d and %f still work on them
    return _Escaped(value)


def install() -> None:
    """Escape the arguments of every ``tekton_dag`` record from now on (once per process)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "escapes_tekton_dag", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.args and record.name.startswith(_OURS):
            if isinstance(record.args, Mapping):
                record.args = {key: _neutral(value) for key, value in record.args.items()}
            else:
                record.args = tuple(_neutral(value) for value in record.args)
        return record

    factory.escapes_tekton_dag = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
