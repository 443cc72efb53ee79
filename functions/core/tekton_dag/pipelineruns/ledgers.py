"""The per-team admission ledger: which runs hold a slot and which wait, in order.

The ledger is plain data. It lives in one coordination object per team (a Lease's annotation
in Kubernetes) and is only ever written with a ``resourceVersion`` precondition, so two
run-creator replicas can never both admit into the same free slot: the second write gets 409,
re-reads and decides again. Every method here is pure; callers persist the result.

Queue order is ``(priority, seq)``: merge-release before pr-test before bootstrap, and first in,
first out within a priority (``seq`` is handed out under the same precondition).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

State = Literal["admitted", "queued"]


@dataclass(frozen=True)
class Entry:
    state: State
    priority: int
    seq: int
    since: float  # epoch seconds of the last state change (grace period for not-yet-created runs)


@dataclass(frozen=True)
class Ledger:
    entries: Mapping[str, Entry] = field(default_factory=dict)
    next_seq: int = 0

    # --- queries ---------------------------------------------------------------------------
    def admitted(self) -> list[str]:
        return [name for name, e in self.entries.items() if e.state == "admitted"]

    def queue(self) -> list[str]:
        """Queued run names, best first."""
        waiting = [(e.priority, e.seq, name) for name, e in self.entries.items() if e.state == "queued"]
        return [name for _, _, name in sorted(waiting)]

    # --- decisions --------------------------------------------------------------------------
    def request(self, name: str, priority: int, limit: int, now: float) -> Ledger:
        """Record ``name``: admitted if a slot is free and nothing of equal or better priority
        waits; otherwise queued. A name already recorded keeps its decision (idempotent)."""
        if name in self.entries:
            return self
        ahead = any(e.state == "queued" and e.priority <= priority for e in self.entries.values())
        state: State = "admitted" if len(self.admitted()) < limit and not ahead else "queued"
        entries = {**self.entries, name: Entry(state, priority, self.next_seq, now)}
        return Ledger(entries, self.next_seq + 1)

    def release(self, names: Collection[str]) -> Ledger:
        """Forget ``names`` (finished, cancelled, failed to create): their slots are free."""
        if not any(n in self.entries for n in names):
            return self
        return replace(self, entries={n: e for n, e in self.entries.items() if n not in names})

    def promote(self, limit: int, now: float) -> tuple[Ledger, list[str]]:
        """Admit queued runs, best first, into free slots; returns the new ledger and who moved."""
        free = limit - len(self.admitted())
        moved = self.queue()[: max(free, 0)]
        if not moved:
            return self, []
        entries = dict(self.entries)
        for name in moved:
            entries[name] = replace(entries[name], state="admitted", since=now)
        return replace(self, entries=entries), moved

    def prune(self, finished: Collection[str], existing: Collection[str], now: float, grace: float) -> Ledger:
        """Release runs that finished, and runs whose PipelineRun is still missing ``grace``
        seconds after they were recorded (a creator that died between ledger and create)."""
        gone = {
            name for name, e in self.entries.items()
            if name in finished or (name not in existing and now - e.since > grace)
        }
        return self.release(gone)

    # --- persistence ------------------------------------------------------------------------
    def dumps(self) -> str:
        body = {
            "nextSeq": self.next_seq,
            "entries": {n: [e.state, e.priority, e.seq, round(e.since, 3)] for n, e in self.entries.items()},
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    @classmethod
    def loads(cls, text: str | None) -> Ledger:
        if not text:
            return cls()
        body: dict[str, Any] = json.loads(text)
        entries = {n: Entry(s, int(p), int(q), float(t)) for n, (s, p, q, t) in body.get("entries", {}).items()}
        return cls(entries, int(body.get("nextSeq", 0)))

    @staticmethod
    def admits(text: str | None, name: str) -> bool:
        """Whether the stored ledger ``text`` holds a slot for ``name``: ``loads(text)`` then
        ``admitted()``, without building every entry of a long queue."""
        if not text:
            return False
        entry = json.loads(text).get("entries", {}).get(name)
        return entry is not None and entry[0] == "admitted"
