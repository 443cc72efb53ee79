"""The per-team admission ledger: which runs hold a slot and which wait, in order.

The ledger is plain data. It lives in one coordination object per team (a Lease's annotation
in Kubernetes) and is only ever written with a ``resourceVersion`` precondition, so two
run-creator replicas can never both admit into the same free slot: the second write gets 409,
re-reads and decides again. Every method here is pure; callers persist the result.

Queue order is ``(priority, seq)``: merge-release before pr-test before bootstrap, and first in,
first out within a priority (``seq`` is handed out under the same precondition).

An entry also remembers which pull request it tests (``group``) and at which head (``sha``), so a
new head supersedes the older runs of its PR in the same conditional write that records it.

Entries go when their runs finish, so the ledger also remembers, per pull request, its newest
head and the heads it superseded (``heads``): a redelivery of an older head, or a delivery GitHub
sent before a newer one that arrives after it, is recognised as stale even once its run is gone,
and is ignored instead of cancelling the newest head's run. A ``synchronize`` names the head it
replaced (``before``), so that head counts as superseded even when its own delivery comes later;
and a ``before`` equal to the newest head marks a real new push, which wins even over a head the
PR had once before (a force-push back). Memory is bounded: ``HEADS_PER_PR`` superseded heads per
pull request and ``PRS_REMEMBERED`` pull requests per team (the least recently changed go first).

The ledger is rewritten on every admission change and a busy team's queue can hold a thousand
entries, so the derived views (admitted count, queue order) are computed once per ledger and each
entry's JSON text is made once and handed on to the ledgers derived from it: a request then
costs tens of microseconds, not milliseconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

State = Literal["admitted", "queued"]
SHORT_HEAD = 12  # characters of a head sha the ledger keeps: unique among one PR's heads, and short


def short_head(sha: str) -> str:
    """The part of a head sha the ledger records and compares."""
    return sha[:SHORT_HEAD]

PRS_REMEMBERED = 256  # pull requests per team whose heads are remembered (about 30 KB of ledger)
HEADS_PER_PR = 4  # superseded heads remembered per pull request, newest first


@dataclass(frozen=True)
class Entry:
    state: State
    priority: int
    seq: int
    since: float  # epoch seconds of the last state change (grace period for not-yet-created runs)
    group: str = ""  # "<stack>/<app>/<pr>" for pr-test runs, whose newer heads supersede them; else ""
    sha: str = ""  # the head sha a pr-test run tests (``short_head``)


@dataclass(frozen=True)
class Heads:
    """What the ledger remembers of one pull request's heads (12-character shas)."""

    current: str
    superseded: tuple[str, ...]  # newest first, at most HEADS_PER_PR
    seq: int  # the ledger's seq when this last changed: the least recent is forgotten first


@dataclass(frozen=True)
class Ledger:
    entries: Mapping[str, Entry] = field(default_factory=dict)
    next_seq: int = 0
    # name -> '"name":[...]', each entry's stored text, made once and handed on (a ledger built
    # directly from entries has none; dumps makes what is missing).
    _texts: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    heads: Mapping[str, Heads] = field(default_factory=dict)  # group -> its heads
    _head_texts: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    # --- queries ---------------------------------------------------------------------------
    def admitted(self) -> list[str]:
        return [name for name, e in self.entries.items() if e.state == "admitted"]

    @cached_property
    def admitted_count(self) -> int:
        return sum(1 for e in self.entries.values() if e.state == "admitted")

    @cached_property
    def _queue(self) -> tuple[str, ...]:
        waiting = [(e.priority, e.seq, name) for name, e in self.entries.items() if e.state == "queued"]
        return tuple(name for _, _, name in sorted(waiting))

    def queue(self) -> list[str]:
        """Queued run names, best first."""
        return list(self._queue)

    def is_queued(self, name: str) -> bool:
        entry = self.entries.get(name)
        return entry is not None and entry.state == "queued"

    def is_admitted(self, name: str) -> bool:
        entry = self.entries.get(name)
        return entry is not None and entry.state == "admitted"

    def older_heads(self, group: str, sha: str) -> list[str]:
        """Runs of the same pull request (``group``) at another head: a new head supersedes them."""
        if not group:
            return []
        head = short_head(sha)
        return [name for name, e in self.entries.items() if e.group == group and e.sha != head]

    def is_stale_head(self, group: str, sha: str, before: str = "") -> bool:
        """Whether head ``sha`` of pull request ``group`` was superseded by a newer one, and is
        not a new push back to it (``before``, from a synchronize, is then the newest head)."""
        heads = self.heads.get(group) if group else None
        if heads is None or short_head(sha) not in heads.superseded:
            return False
        return not (before and before[:12] == heads.current)

    def newest_head(self, group: str) -> str:
        heads = self.heads.get(group)
        return heads.current if heads else ""

    # --- decisions --------------------------------------------------------------------------
    def note_head(self, group: str, sha: str, before: str = "") -> Ledger:
        """Remember ``sha`` as the newest head of ``group``; the head it replaces and ``before``
        become superseded. Forgets the least recently changed pull request beyond the bound."""
        if not group:
            return self
        head, old = short_head(sha), self.heads.get(group)
        earlier = [old.current] if old else []
        earlier += [short_head(before)] if before else []
        earlier += list(old.superseded if old else ())
        superseded = tuple(dict.fromkeys(s for s in earlier if s and s != head))[:HEADS_PER_PR]
        if old is not None and old.current == head and old.superseded == superseded:
            return self
        new = Heads(head, superseded, self.next_seq)
        heads, texts = {**self.heads, group: new}, {**self._head_texts, group: _head_text(group, new)}
        if old is None and len(heads) > PRS_REMEMBERED:
            oldest = min(heads, key=lambda g: heads[g].seq)
            del heads[oldest]
            texts.pop(oldest, None)
        ledger = replace(self, next_seq=self.next_seq + 1, heads=heads, _head_texts=texts)
        ledger.__dict__.update({k: v for k, v in self.__dict__.items() if k in ("_queue", "admitted_count")})
        return ledger

    def request(self, name: str, priority: int, limit: int, now: float, group: str = "", sha: str = "") -> Ledger:
        """Record ``name``: admitted if a slot is free and nothing of equal or better priority
        waits; otherwise queued. A name already recorded keeps its decision (idempotent)."""
        if name in self.entries:
            return self
        best_waiting = self.entries[self._queue[0]].priority if self._queue else None
        ahead = best_waiting is not None and best_waiting <= priority
        state: State = "admitted" if self.admitted_count < limit and not ahead else "queued"
        entry = Entry(state, priority, self.next_seq, now, group, short_head(sha))
        ledger = Ledger(
            {**self.entries, name: entry},
            self.next_seq + 1,
            {**self._texts, name: _text(name, entry)},
            self.heads,
            self._head_texts,
        )
        # Hand on the derived views instead of recounting and resorting a long queue: the new
        # entry has the highest seq, so it goes after every waiting run of its priority or better.
        queue = self._queue
        if state == "queued":
            at = len(queue)
            while at and self.entries[queue[at - 1]].priority > priority:
                at -= 1
            queue = (*queue[:at], name, *queue[at:])
        ledger.__dict__.update(_queue=queue, admitted_count=self.admitted_count + (state == "admitted"))
        return ledger

    def release(self, names: Collection[str]) -> Ledger:
        """Forget ``names`` (finished, cancelled, failed to create): their slots are free."""
        if not any(n in self.entries for n in names):
            return self
        entries = {n: e for n, e in self.entries.items() if n not in names}
        return replace(self, entries=entries, _texts={n: t for n, t in self._texts.items() if n in entries})

    def promote(self, limit: int, now: float) -> tuple[Ledger, list[str]]:
        """Admit queued runs, best first, into free slots; returns the new ledger and who moved."""
        free = limit - self.admitted_count
        moved = list(self._queue[: max(free, 0)])
        if not moved:
            return self, []
        entries, texts = dict(self.entries), dict(self._texts)
        for name in moved:
            entries[name] = replace(entries[name], state="admitted", since=now)
            texts[name] = _text(name, entries[name])
        return replace(self, entries=entries, _texts=texts), moved

    def prune(self, finished: Collection[str], existing: Collection[str], now: float, grace: float) -> Ledger:
        """Release runs that finished, and runs whose PipelineRun is still missing ``grace``
        seconds after they were recorded (deleted behind our back)."""
        gone = {
            name
            for name, e in self.entries.items()
            if name in finished or (name not in existing and now - e.since > grace)
        }
        return self.release(gone)

    def adopt(self, name: str, entry: Entry) -> Ledger:
        """Record a run found in the cluster but not here (its creator died between creating it
        and recording it, or the ledger was lost), with the state it really has."""
        if name in self.entries:
            return self
        entry = replace(entry, seq=self.next_seq)
        return Ledger(
            {**self.entries, name: entry},
            self.next_seq + 1,
            {**self._texts, name: _text(name, entry)},
            self.heads,
            self._head_texts,
        )

    # --- persistence ------------------------------------------------------------------------
    def dumps(self) -> str:
        texts = self._texts
        body = ",".join([texts.get(name) or _text(name, entry) for name, entry in self.entries.items()])
        if not self.heads:
            return f'{{"entries":{{{body}}},"nextSeq":{self.next_seq}}}'
        head_texts = self._head_texts
        heads = ",".join([head_texts.get(g) or _head_text(g, h) for g, h in self.heads.items()])
        return f'{{"entries":{{{body}}},"nextSeq":{self.next_seq},"heads":{{{heads}}}}}'

    @classmethod
    def loads(cls, text: str | None) -> Ledger:
        if not text:
            return cls()
        body: dict[str, Any] = json.loads(text)
        entries = {name: _entry(values) for name, values in body.get("entries", {}).items()}
        heads = {
            group: Heads(str(v[0]), tuple(str(s) for s in v[1]), int(v[2]))
            for group, v in body.get("heads", {}).items()
        }
        return cls(
            entries,
            int(body.get("nextSeq", 0)),
            {name: _text(name, e) for name, e in entries.items()},
            heads,
            {group: _head_text(group, h) for group, h in heads.items()},
        )


def _entry(values: list[Any]) -> Entry:
    state, priority, seq, since, *pr = values
    group, sha = (str(pr[0]), str(pr[1])) if len(pr) >= 2 else ("", "")
    return Entry(state, int(priority), int(seq), float(since), group, sha)


_PLAIN = re.compile(r"[a-z0-9.-]*")


def _text(name: str, entry: Entry) -> str:
    """The stored text of one entry. Run names are DNS-1123 labels, plain JSON strings; anything
    else (a hand-edited ledger) goes through the encoder."""
    key = f'"{name}"' if _PLAIN.fullmatch(name) else json.dumps(name)
    values: list[Any] = [entry.state, entry.priority, entry.seq, round(entry.since, 3)]
    if entry.group:
        values += [entry.group, entry.sha]
    return f"{key}:{json.dumps(values, separators=(',', ':'))}"


def _head_text(group: str, heads: Heads) -> str:
    """The stored text of one pull request's heads: ``"group":[current,[superseded...],seq]``."""
    return (
        f"{json.dumps(group)}:{json.dumps([heads.current, list(heads.superseded), heads.seq], separators=(',', ':'))}"
    )
