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
pull request, and at least the ``PRS_REMEMBERED`` most recently changed pull requests per team
(at most twice as many; the least recently changed go first).

The heads memory is stored like the queue, so that it does not ride in every write: the head
holds the ``HEADS_IN_HEAD`` pull requests changed most recently; one more, and they are sealed
into a *heads segment* (``h<hash>``, immutable like a queue segment). A pull request's heads are
the newest record of it: the head's, else the newest segment's that has it. Once the segments
hold more than twice ``PRS_REMEMBERED`` records (older ones shadowed by newer), they are rewritten
as one segment of the ``PRS_REMEMBERED`` most recently changed pull requests.

The ledger is stored in pieces so that a request's cost does not grow with the queue: the *head*
(one Lease per team, rewritten on every change) holds the admitted runs, the newest queued runs
(fewer than ``SEAL_AT``), the recent heads and the list of *segments*; once ``SEAL_AT`` runs wait
in the head they are sealed into segments, each its own Lease written once and never changed (its
name is a hash of its content). The head records, per segment, which of its runs no longer wait
there (promoted: a count from the front; released: by name, at most ``SCATTERED_MAX`` before
the segment holding the most is rewritten). A request therefore writes the head, whose size is
bounded by the limit, ``SEAL_AT``, ``SCATTERED_MAX``, ``HEADS_IN_HEAD`` and the number of
heads segments (at most about twice ``PRS_REMEMBERED / HEADS_IN_HEAD``), and a segment only once
per ``SEAL_AT`` queued runs or ``HEADS_IN_HEAD`` new pull requests; the queue itself can be as long
as the namespace allows.

The head does not name every queue segment either: once more than ``INDEX_AT`` stored segments
are not in it, the stored ones are listed in a *queue index* (``i<hash>``, immutable like a
segment), which the head names instead. The head still lists, by name, the segments with runs
taken (their state lives in the head), the few stored since the index was made, and the index's
segments that no longer wait (``indexGone``); past ``INDEX_AT`` of the last two together, a new
index is made. So a request writes the same bytes at ten queued runs as at thousands, and the
index (about 17 bytes per ``SEAL_AT`` queued runs) is written once per ``INDEX_AT`` segments
made or emptied (docs/performance.md, fourteenth round).

A new segment is first written into the head (``stored=False``: the head carries its content),
and only then created as a Lease by the next writer, which drops the copy from the head: the
head is the only thing written conditionally, so a writer that dies at any point loses nothing.

The derived views (admitted count, the head's queue order) are computed once per ledger and each
entry's JSON text is made once and handed on to the ledgers derived from it; questions about
segments (is it queued, which runs of this pull request wait, who is next) cost one lookup per
segment, never one per queued run.

The pieces themselves (entries, heads, the segments and their exact text) are ``ledger_pieces``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import islice
from typing import Any

from tekton_dag.pipelineruns.ledger_pieces import (
    Chunk,
    Entry,
    Heads,
    HeadsChunk,
    HeadsSegment,
    IndexChunk,
    IndexSegment,
    Segment,
    State,
    StoredChunk,
    entry_text,
    head_text,
    newest_records,
    parse_entry,
    parse_heads,
    short_head,
)

# Pull requests per team whose heads are remembered, at least: the most recently changed (at most
# twice as many, between two rewrites of the heads segments).
PRS_REMEMBERED = 256
# Pull requests whose heads the head itself holds (about 3 KB); older ones are in heads segments.
# Before, all 256 were in the head: 21.7 KB in every write (docs/performance.md, ninth round).
HEADS_IN_HEAD = 32
HEADS_PER_PR = 4  # superseded heads remembered per pull request, newest first
SEAL_AT = 64  # queued runs the head holds before they move to a segment (about 8 KB of head)
SCATTERED_MAX = 32  # runs released from the middle of segments the head names before it rewrites one
INDEX_AT = 4  # stored segments the head names outside the index (or emptied in it) before a new index


class MissingSegments(Exception):
    """The head names stored segments the caller has not handed in: read them, then load again."""

    def __init__(self, names: Collection[str]):
        super().__init__(f"segments not loaded: {', '.join(names)}")
        self.names = tuple(names)


@dataclass(frozen=True)
class Ledger:
    # The runs the head Lease holds: every admitted run, and queued runs not yet sealed into a segment.
    entries: Mapping[str, Entry] = field(default_factory=dict)
    next_seq: int = 0
    # name -> '"name":[...]', each entry's stored text, made once and handed on (a ledger built
    # directly from entries has none; dumps makes what is missing).
    _texts: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # group -> its heads, least recently changed first: the pull requests changed since the last
    # heads segment was sealed (at most HEADS_IN_HEAD), newer than anything in ``head_segments``.
    heads: Mapping[str, Heads] = field(default_factory=dict)
    # group -> its stored text (``head_text``), made once. Its groups are always in ``heads``' order
    # (``note_head`` moves and forgets a group in both), so once it has them all ``dumps`` joins
    # it as it is: no look-up per remembered pull request on every write.
    _head_texts: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # The rest of the queue, sealed: ordered by (priority, first seq); all older than ``entries``'
    # queued runs of the same priority.
    segments: tuple[Segment, ...] = ()
    # The older heads, sealed, oldest first: a pull request's newest record is the one that counts.
    head_segments: tuple[HeadsSegment, ...] = ()
    # Names (some of) the stored ``segments``, so that the head need not; None while few are stored.
    index: IndexSegment | None = None

    # --- queries ---------------------------------------------------------------------------
    def admitted(self) -> list[str]:
        return [name for name, e in self.entries.items() if e.state == "admitted"]

    @cached_property
    def admitted_count(self) -> int:
        return sum(1 for e in self.entries.values() if e.state == "admitted")

    @cached_property
    def _queue(self) -> tuple[str, ...]:
        """The queued runs the head holds, best first (the segments' runs are not here)."""
        waiting = [(e.priority, e.seq, name) for name, e in self.entries.items() if e.state == "queued"]
        return tuple(name for _, _, name in sorted(waiting))

    def _waiting(self) -> Iterator[str]:
        """Every queued run, best first, lazily: a priority's segments (older) before its
        head-held runs. Taking the first few costs the segments skipped, not the queue."""
        inline, segments, at, index = self._queue, self.segments, 0, 0
        while at < len(inline) or index < len(segments):
            seg_priority = segments[index].chunk.priority if index < len(segments) else None
            in_priority = self.entries[inline[at]].priority if at < len(inline) else None
            if seg_priority is not None and (in_priority is None or seg_priority <= in_priority):
                yield from segments[index].live()
                index += 1
            else:
                yield inline[at]
                at += 1

    def queue(self) -> list[str]:
        """Queued run names, best first (walks the whole queue: for tests and tools)."""
        return list(self._waiting())

    @property
    def queued_count(self) -> int:
        return len(self._queue) + sum(self._live_by_priority.values())

    @cached_property
    def _live_by_priority(self) -> dict[int, int]:
        """How many runs wait in the segments, per priority."""
        counts: dict[int, int] = {}
        for s in self.segments:
            counts[s.chunk.priority] = counts.get(s.chunk.priority, 0) + s.live_count
        return counts

    @cached_property
    def _lookups(self) -> tuple[tuple[Chunk, frozenset[str]], ...]:
        """Each segment's chunk and taken runs: what a lookup by name or pull request reads."""
        return tuple((s.chunk, s.taken) for s in self.segments)

    def position(self, name: str) -> int:
        """A queued run's place in the queue, from 1; 0 when it does not wait. Counts segments,
        never walks them: a run sealed by the write that recorded it is asked about too."""
        entry = self.entries.get(name)
        if entry is not None:
            if entry.state != "queued":
                return 0
            ahead = sum(n for p, n in self._live_by_priority.items() if p <= entry.priority)
            return ahead + self._queue.index(name) + 1
        ahead = 0
        for segment in self.segments:  # in queue order: a priority's segments before its head-held runs
            if segment.holds(name):
                priority = segment.chunk.priority
                better = sum(1 for n in self._queue if self.entries[n].priority < priority)
                return ahead + better + next(i for i, n in enumerate(segment.live()) if n == name) + 1
            ahead += segment.live_count
        return 0

    def entry(self, name: str) -> Entry | None:
        """The entry of ``name`` wherever it is recorded (head or a segment), None if nowhere."""
        found = self.entries.get(name)
        if found is not None:
            return found
        for chunk, taken in self._lookups:  # a run is in one segment at most
            found = chunk.entries.get(name)
            if found is not None:
                return None if name in taken else found
        return None

    def has(self, name: str) -> bool:
        return self.entry(name) is not None

    def is_queued(self, name: str) -> bool:
        entry = self.entry(name)
        return entry is not None and entry.state == "queued"

    def is_admitted(self, name: str) -> bool:
        entry = self.entries.get(name)
        return entry is not None and entry.state == "admitted"

    def older_heads(self, group: str, sha: str) -> list[str]:
        """Runs of the same pull request (``group``) at another head: a new head supersedes them."""
        if not group:
            return []
        head = short_head(sha)
        older = [name for name, e in self.entries.items() if e.group == group and e.sha != head]
        for chunk, taken in self._lookups:
            for name in chunk.by_group.get(group, ()):
                if name not in taken and chunk.entries[name].sha != head:
                    older.append(name)
        return older

    def is_stale_head(self, group: str, sha: str, before: str = "") -> bool:
        """Whether head ``sha`` of pull request ``group`` was superseded by a newer one, and is
        not a new push back to it (``before``, from a synchronize, is then the newest head)."""
        heads = self.heads_of(group) if group else None
        if heads is None or short_head(sha) not in heads.superseded:
            return False
        return not (before and before[:12] == heads.current)

    def newest_head(self, group: str) -> str:
        heads = self.heads_of(group)
        return heads.current if heads else ""

    def heads_of(self, group: str) -> Heads | None:
        """What is remembered of ``group``'s heads: its newest record, in the head or a segment."""
        found = self.heads.get(group)
        if found is None:
            for segment in reversed(self.head_segments):
                found = segment.chunk.heads.get(group)
                if found is not None:
                    break
        return found

    def remembered(self) -> dict[str, Heads]:
        """Every remembered pull request's heads, least recently changed first (for tests and tools)."""
        return dict(newest_records([*(s.chunk.heads for s in self.head_segments), self.heads]))

    def listed(self) -> tuple[tuple[StoredChunk, bool], ...]:
        """Every segment the head lists, queue, heads and index (directly or through the index):
        its content, and whether its Lease exists. The same tuple for a ledger derived without
        changing them (so a caller can tell by identity that nothing listed changed)."""
        return self._listed

    @cached_property
    def _listed(self) -> tuple[tuple[StoredChunk, bool], ...]:
        index = [(self.index.chunk, self.index.stored)] if self.index is not None else []
        return (*((s.chunk, s.stored) for s in self.segments), *((s.chunk, s.stored) for s in self.head_segments),
                *index)

    def unstored(self) -> list[StoredChunk]:
        """Segments the head carries whose own Lease must be created before the head drops them."""
        return list(self._unstored)

    @cached_property
    def _unstored(self) -> tuple[StoredChunk, ...]:
        return tuple(chunk for chunk, stored in self._listed if not stored)

    # --- decisions --------------------------------------------------------------------------
    def note_head(self, group: str, sha: str, before: str = "") -> Ledger:
        """Remember ``sha`` as the newest head of ``group``; the head it replaces and ``before``
        become superseded. Past ``HEADS_IN_HEAD`` pull requests in the head, seals them into a
        heads segment (``_sealing_heads``, which forgets the least recently changed beyond the bound)."""
        if not group:
            return self
        head, old = short_head(sha), self.heads_of(group)
        earlier = [old.current] if old else []
        earlier += [short_head(before)] if before else []
        earlier += list(old.superseded if old else ())
        superseded = tuple(dict.fromkeys(s for s in earlier if s and s != head))[:HEADS_PER_PR]
        if old is not None and old.current == head and old.superseded == superseded:
            return self
        new = Heads(head, superseded, self.next_seq)
        # Moved to the end: ``heads`` stays in seq order, so the least recently changed pull
        # request is the first key (a scan of all 256 per new pull request was 4% of the
        # all-in-one's CPU when every webhook opened one).
        heads, texts = dict(self.heads), dict(self._head_texts)
        heads.pop(group, None)
        texts.pop(group, None)
        heads[group], texts[group] = new, head_text(group, new)
        head_segments = self.head_segments
        if len(heads) > HEADS_IN_HEAD:
            head_segments = _sealing_heads(head_segments, heads, texts)
            heads, texts = {}, {}
        ledger = replace(self, next_seq=self.next_seq + 1, heads=heads, _head_texts=texts,
                         head_segments=head_segments)
        return self._hand_on(ledger, "_queue", "admitted_count")

    def request(self, name: str, priority: int, limit: int, now: float, group: str = "", sha: str = "") -> Ledger:
        """Record ``name``: admitted if a slot is free and nothing of equal or better priority
        waits; otherwise queued. A name already recorded keeps its decision (idempotent)."""
        if self.has(name):
            return self
        first = next(self._waiting(), None)
        best_waiting = self.entry(first).priority if first is not None else None  # type: ignore[union-attr]
        ahead = best_waiting is not None and best_waiting <= priority
        state: State = "admitted" if self.admitted_count < limit and not ahead else "queued"
        entry = Entry(state, priority, self.next_seq, now, group, short_head(sha))
        ledger = Ledger(
            {**self.entries, name: entry},
            self.next_seq + 1,
            {**self._texts, name: entry_text(name, entry)},
            self.heads,
            self._head_texts,
            self.segments,
            self.head_segments,
            self.index,
        )
        # Hand on the derived views instead of recounting and resorting the queue: the new
        # entry has the highest seq, so it goes after every waiting run of its priority or better.
        queue = self._queue
        if state == "queued":
            at = len(queue)
            while at and self.entries[queue[at - 1]].priority > priority:
                at -= 1
            queue = (*queue[:at], name, *queue[at:])
        ledger.__dict__.update(_queue=queue, admitted_count=self.admitted_count + (state == "admitted"))
        return self._hand_on(ledger)

    def release(self, names: Collection[str]) -> Ledger:
        """Forget ``names`` (finished, cancelled, failed to create): their slots are free."""
        gone = set(names)
        in_head = {n for n in gone if n in self.entries}  # never also in a segment: not looked for there
        segments = _taking(self.segments, gone - in_head)
        if segments is self.segments and not in_head:
            return self
        entries = {n: e for n, e in self.entries.items() if n not in gone}
        texts = {n: t for n, t in self._texts.items() if n in entries}
        return self._hand_on(replace(self, entries=entries, _texts=texts, segments=segments))

    def promote(self, limit: int, now: float) -> tuple[Ledger, list[str]]:
        """Admit queued runs, best first, into free slots; returns the new ledger and who moved."""
        free = limit - self.admitted_count
        moved = list(islice(self._waiting(), max(free, 0)))
        if not moved:
            return self, []
        entries, texts = dict(self.entries), dict(self._texts)
        for name in moved:
            waiting = self.entry(name)
            assert waiting is not None  # _waiting yields recorded names only
            entries[name] = replace(waiting, state="admitted", since=now)
            texts[name] = entry_text(name, entries[name])
        segments = _taking(self.segments, set(moved))
        return self._hand_on(replace(self, entries=entries, _texts=texts, segments=segments)), moved

    def prune(self, finished: Collection[str], existing: Collection[str], now: float, grace: float) -> Ledger:
        """Release runs that finished, and runs whose PipelineRun is still missing ``grace``
        seconds after they were recorded (deleted behind our back). Walks every entry: for the
        periodic reconcile, not for requests."""
        recorded = [*self.entries.items(),
                    *((n, s.chunk.entries[n]) for s in self.segments for n in s.live())]
        gone = {
            name
            for name, e in recorded
            if name in finished or (name not in existing and now - e.since > grace)
        }
        return self.release(gone)

    def adopt(self, name: str, entry: Entry) -> Ledger:
        """Record a run found in the cluster but not here (its creator died between creating it
        and recording it, or the ledger was lost), with the state it really has."""
        if self.has(name):
            return self
        entry = replace(entry, seq=self.next_seq)
        return Ledger(
            {**self.entries, name: entry},
            self.next_seq + 1,
            {**self._texts, name: entry_text(name, entry)},
            self.heads,
            self._head_texts,
            self.segments,
            self.head_segments,
            self.index,
        )

    def seal(self, at: int = SEAL_AT) -> Ledger:
        """Once the head holds ``at`` queued runs, move them into new segments (per priority, at
        most ``at`` runs each, named ``q<hash>``). The head carries a new segment until
        ``stored`` says its Lease exists, so nothing is lost if its creator dies first. Then
        ``compact``."""
        if len(self._queue) < at:
            return self.compact()
        by_priority: dict[int, list[str]] = {}
        for name in self._queue:
            by_priority.setdefault(self.entries[name].priority, []).append(name)
        new = [
            Segment(Chunk.build(priority, {n: self.entries[n] for n in names[i:i + at]}))
            for priority, names in by_priority.items()
            for i in range(0, len(names), at)
        ]
        sealed = set(self._queue)
        segments = tuple(sorted((*self.segments, *new), key=lambda s: (s.chunk.priority, s.chunk.first_seq)))
        entries = {n: e for n, e in self.entries.items() if n not in sealed}
        return replace(self, entries=entries, _texts={n: t for n, t in self._texts.items() if n in entries},
                       segments=segments).compact()

    def compact(self, most: int = SCATTERED_MAX) -> Ledger:
        """While the head names more than ``most`` runs released from the middle of segments
        (superseded or cancelled while waiting), rewrite the segment with the most of them as a
        new one holding only its waiting runs: the head's size stays bounded, at the cost of one
        segment (at most ``SEAL_AT`` runs) written now and then."""
        segments = self.segments
        if self._scattered_count <= most:  # as a rule: no walk over the segments
            return self._indexed()
        while sum(len(s.scattered) for s in segments) > most:
            worst = max(range(len(segments)), key=lambda i: len(segments[i].scattered))
            old = segments[worst]
            waiting = {n: old.chunk.entries[n] for n in old.live()}
            segments = (*segments[:worst], Segment(Chunk.build(old.chunk.priority, waiting)), *segments[worst + 1:])
        return (self if segments is self.segments else replace(self, segments=segments))._indexed()

    @cached_property
    def _scattered_count(self) -> int:
        return sum(len(s.scattered) for s in self.segments)

    def _hand_on(self, derived: Ledger, *views: str) -> Ledger:
        """``derived`` with this ledger's ``views`` (the caller knows they still hold) and the
        views of the pieces it shares with it, the same objects (``_OF_SEGMENTS``; with the heads
        segments too, ``_OF_PIECES``): most requests change none, and each view walks the segments."""
        held = self.__dict__
        handed = {k: held[k] for k in views if k in held}
        if derived.segments is self.segments and derived.index is self.index:
            handed.update((k, held[k]) for k in _OF_SEGMENTS if k in held)
            if derived.head_segments is self.head_segments:
                handed.update((k, held[k]) for k in _OF_PIECES if k in held)
        derived.__dict__.update(handed)
        return derived

    @cached_property
    def _index_gone(self) -> list[str]:
        """The index's segments that no longer wait (emptied, or rewritten under a new name)."""
        if self.index is None:
            return []
        return sorted(self.index.chunk.members.difference(s.chunk.name for s in self.segments))

    @cached_property
    def _named_segments(self) -> tuple[Segment, ...]:
        """The segments the head names one by one: all but the index's untouched stored ones."""
        if self.index is None:
            return self.segments
        members = self.index.chunk.members
        return tuple(s for s in self.segments if s.taken or not s.stored or s.chunk.name not in members)

    @cached_property
    def _index_settled(self) -> bool:
        """Whether the index may stay: at most ``INDEX_AT`` stored segments are outside it or
        emptied in it, and something in it still waits."""
        members = self.index.chunk.members if self.index is not None else frozenset()
        outside = sum(1 for s in self.segments if s.stored and s.chunk.name not in members)
        gone = len(self._index_gone)
        return outside + gone <= INDEX_AT and (gone < len(members) or not members)

    def _indexed(self) -> Ledger:
        """Unless the index is settled, index every stored segment anew: the head names at most
        ``INDEX_AT`` of them one by one, whatever the queue's length. No index while ``INDEX_AT``
        or fewer are stored."""
        if self._index_settled:
            return self
        stored = [s.chunk.name for s in self.segments if s.stored]
        index = IndexSegment(IndexChunk.build(stored)) if len(stored) > INDEX_AT else None
        return self if index == self.index else replace(self, index=index)

    def stored(self) -> Ledger:
        """Every segment's Lease now exists: the head stops carrying their content."""
        index = self.index
        if (all(s.stored for s in self.segments) and all(s.stored for s in self.head_segments)
                and (index is None or index.stored)):
            return self
        return replace(self, segments=tuple(replace(s, stored=True) for s in self.segments),
                       head_segments=tuple(replace(s, stored=True) for s in self.head_segments),
                       index=replace(index, stored=True) if index is not None else None)

    # --- persistence ------------------------------------------------------------------------
    def dumps(self) -> str:
        """The head's text: admitted and head-held queued runs, heads, and the segments by name
        (with their content while not stored). Its size does not depend on the queue's length."""
        texts = self._texts
        body = ",".join([texts.get(name) or entry_text(name, entry) for name, entry in self.entries.items()])
        text = f'{{"entries":{{{body}}},"nextSeq":{self.next_seq}'
        if self.heads:
            head_texts = self._head_texts
            if len(head_texts) == len(self.heads):  # all made, in ``heads``' order: join them as they are
                heads = ",".join(head_texts.values())
            else:
                heads = ",".join([head_texts.get(g) or head_text(g, h) for g, h in self.heads.items()])
            text += f',"heads":{{{heads}}}'
        if self.head_segments:
            text += f',"headSegments":[{",".join(s.text() for s in self.head_segments)}]'
        segments = self._named_segments
        if self.index is not None:
            text += f',"index":{self.index.text()}'
            if self._index_gone:
                text += f',"indexGone":{json.dumps(self._index_gone, separators=(",", ":"))}'
        if segments:
            text += f',"segments":[{",".join(s.text() for s in segments)}]'
        return text + "}"

    @classmethod
    def loads(cls, text: str | None, chunks: Mapping[str, StoredChunk] | None = None) -> Ledger:
        """Parse a head's text (also one written before segments or the index existed: the same
        format without ``segments``, ``headSegments`` or ``index``). ``chunks``: the stored
        segments' content by name; raises ``MissingSegments`` naming those it lacks (a stored
        index first, then the segments it names)."""
        if not text:
            return cls()
        body: dict[str, Any] = json.loads(text)
        entries = {name: parse_entry(values) for name, values in body.get("entries", {}).items()}
        heads = parse_heads(body)
        listed: list[list[Any]] = [[s, 0, []] if isinstance(s, str) else s for s in body.get("segments", [])]
        listed_heads: list[list[Any]] = [[s] if isinstance(s, str) else s for s in body.get("headSegments", [])]
        chunks = chunks or {}
        missing = [str(s[0]) for s in listed if len(s) < 4 and str(s[0]) not in chunks]
        missing += [str(s[0]) for s in listed_heads if len(s) < 2 and str(s[0]) not in chunks]
        index, members = _index(body.get("index"), chunks, missing), []
        if index is not None:
            named = {str(s[0]) for s in listed}
            gone = set(map(str, body.get("indexGone", [])))
            members = [n for n in index.chunk.names if n not in named and n not in gone]
            missing += [n for n in members if n not in chunks]
        if missing:
            raise MissingSegments(missing)
        segments = []
        for name, skip, rest, *inline in listed:
            if inline:
                chunk = Chunk.build(int(inline[0]["priority"]),
                                    {n: parse_entry(v) for n, v in inline[0]["entries"].items()}, str(name))
            else:
                chunk = _of_kind(chunks[str(name)], Chunk)
            taken = frozenset([*islice(chunk.entries, int(skip)), *map(str, rest)])
            segments.append(Segment(chunk, taken, not inline))
        if members:  # in queue order again, as ``seal`` keeps them
            segments += [Segment(_of_kind(chunks[n], Chunk), frozenset(), True) for n in members]
            segments.sort(key=lambda s: (s.chunk.priority, s.chunk.first_seq))
        head_segments = [
            HeadsSegment(HeadsChunk.build(parse_heads(s[1]), name=str(s[0])), False) if len(s) > 1
            else HeadsSegment(_of_kind(chunks[str(s[0])], HeadsChunk), True)
            for s in listed_heads
        ]
        return cls(
            entries,
            int(body.get("nextSeq", 0)),
            {name: entry_text(name, e) for name, e in entries.items()},
            heads,
            {group: head_text(group, h) for group, h in heads.items()},
            tuple(segments),
            tuple(head_segments),
            index,
        )


def _index(spec: Any, chunks: Mapping[str, StoredChunk], missing: list[str]) -> IndexSegment | None:
    """The head's ``index``: ``"name"`` (stored: its content from ``chunks``, else its name is
    added to ``missing``) or ``["name",{content}]`` (carried)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec not in chunks:
            missing.append(spec)
            return None
        return IndexSegment(_of_kind(chunks[spec], IndexChunk), True)
    name, content = spec
    return IndexSegment(IndexChunk.build(content["segments"], str(name)), False)


# Views that depend only on ``segments`` and ``index``: a ledger derived without changing them
# (a new run recorded, a head noted, a run of the head released or promoted: most requests) is
# handed them instead of walking the segments again (``_hand_on``). Each walk is per segment: at
# 3,000 queued a request's ledger work made 677 function calls, 106 at 10 queued (cProfile; 339
# now, the rest mostly one dictionary lookup per segment: docs/performance.md, fourteenth round).
_OF_SEGMENTS = ("_index_gone", "_index_settled", "_named_segments", "_scattered_count", "_live_by_priority",
                "_lookups")
_OF_PIECES = ("_listed", "_unstored")  # ... and on ``head_segments``


def _of_kind(chunk: StoredChunk, kind: type[Any]) -> Any:
    if not isinstance(chunk, kind):
        raise ValueError(f"segment {chunk.name} is not a {kind.__name__}")
    return chunk


def _sealing_heads(segments: tuple[HeadsSegment, ...], heads: Mapping[str, Heads],
                   texts: Mapping[str, str]) -> tuple[HeadsSegment, ...]:
    """``segments`` and a new one of ``heads`` (newer than all of them). Once they hold more than
    twice ``PRS_REMEMBERED`` records, all are rewritten as one of the ``PRS_REMEMBERED`` most
    recently changed pull requests: one larger segment now and then instead of the whole memory
    in every write."""
    segments = (*segments, HeadsSegment(HeadsChunk.build(heads, texts)))
    if sum(len(s.chunk.heads) for s in segments) <= 2 * PRS_REMEMBERED:
        return segments
    newest = newest_records(s.chunk.heads for s in segments)[-PRS_REMEMBERED:]
    return (HeadsSegment(HeadsChunk.build(dict(newest))),)


def _taking(segments: tuple[Segment, ...], names: set[str]) -> tuple[Segment, ...]:
    """``segments`` without ``names`` (taken: promoted or released); a segment nothing waits in
    any more goes. The same tuple when none of them is there. Stops looking once all are found:
    promotion takes from the first segments, so it does not walk the rest of the queue (every
    finished run walked all of them: 0.36 ms per finished event at 3,000 queued, under cProfile)."""
    if not names:  # a new head with nothing to supersede: most requests
        return segments
    left, kept = set(names), list[Segment]()
    for at, segment in enumerate(segments):
        if not left:
            return (*kept, *segments[at:])
        hit = {n for n in left if segment.holds(n)}
        if not hit:
            kept.append(segment)
            continue
        left -= hit
        if segment.live_count > len(hit):
            kept.append(replace(segment, taken=segment.taken | hit))
    return tuple(kept) if len(left) < len(names) else segments

