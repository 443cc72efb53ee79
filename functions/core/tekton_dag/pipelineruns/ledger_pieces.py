"""The stored pieces of a team's admission ledger (``ledgers``): an entry and a pull request's
heads, the immutable segments a head lists (queue, heads and index chunks, each named after a
hash of its text) with what the head records of each, and their exact stored text.

Everything here is plain data and text; deciding (admission, supersede, sealing, indexing) is
``ledgers.Ledger``'s. The text is written by hand rather than through ``json.dumps``, and equals
what ``json.dumps`` with compact separators writes (a test compares them): see ``_PLAIN``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from typing import Any, Generic, Literal, TypeVar

State = Literal["admitted", "queued"]
SHORT_HEAD = 12  # characters of a head sha the ledger keeps: unique among one PR's heads, and short


def short_head(sha: str) -> str:
    """The part of a head sha the ledger records and compares."""
    return sha[:SHORT_HEAD]


SEGMENT_HASH = 12  # hex digits of a segment's content hash in its name


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
    superseded: tuple[str, ...]  # newest first, at most ``ledgers.HEADS_PER_PR``
    seq: int  # the ledger's seq when this last changed: the least recent is forgotten first


@dataclass(frozen=True, eq=False)
class Chunk:
    """The content of one queue segment: waiting runs of one priority, oldest first. Immutable,
    and named after a hash of its text, so a name always means the same content (a cached copy
    never goes stale, and creating it twice is harmless)."""

    name: str  # "q<hash of text>"; its Lease is "<head Lease>-<name>"
    priority: int
    entries: Mapping[str, Entry]  # in seq order
    text: str  # the stored text: {"priority":p,"entries":{...}}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Chunk) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def first_seq(self) -> int:
        """The seq of its first run (-1 for a segment whose Lease vanished: it holds nothing)."""
        return next(iter(self.entries.values())).seq if self.entries else -1

    @cached_property
    def by_group(self) -> dict[str, list[str]]:
        """group → its runs here: supersede looks a pull request up instead of scanning."""
        groups: dict[str, list[str]] = {}
        for name, entry in self.entries.items():
            if entry.group:
                groups.setdefault(entry.group, []).append(name)
        return groups

    @classmethod
    def build(cls, priority: int, entries: Mapping[str, Entry], name: str = "") -> Chunk:
        body = ",".join(entry_text(n, e) for n, e in entries.items())
        text = f'{{"priority":{priority},"entries":{{{body}}}}}'
        name = name or f"q{hashlib.sha256(text.encode()).hexdigest()[:SEGMENT_HASH]}"
        return cls(name, priority, dict(entries), text)

    @classmethod
    def loads(cls, name: str, text: str) -> Chunk:
        body: dict[str, Any] = json.loads(text)
        entries = {n: parse_entry(v) for n, v in body.get("entries", {}).items()}
        return cls(name, int(body["priority"]), entries, text)


@dataclass(frozen=True)
class Segment:
    """A chunk as the head Lease sees it: which of its runs no longer wait there (``taken``:
    promoted or released), and whether its own Lease exists yet (until then the head carries it)."""

    chunk: Chunk
    taken: frozenset[str] = frozenset()
    stored: bool = False

    def holds(self, name: str) -> bool:
        return name in self.chunk.entries and name not in self.taken

    def live(self) -> Iterator[str]:
        return (n for n in self.chunk.entries if n not in self.taken)

    @property
    def live_count(self) -> int:
        return len(self.chunk.entries) - len(self.taken)

    @cached_property
    def _skip(self) -> int:
        """How many runs at the front are taken: promotion takes from the front, so a count says it."""
        skip = 0
        for name in self.chunk.entries:
            if name not in self.taken:
                break
            skip += 1
        return skip

    @cached_property
    def scattered(self) -> list[str]:
        """Taken runs behind the first waiting one (released there): the head names each."""
        return sorted(self.taken - set(islice(self.chunk.entries, self._skip)))

    @cached_property
    def _text(self) -> str:
        """``"name"`` while nothing is taken; else ``["name",skip,[names]]``: the first ``skip``
        runs are taken (promotion takes from the front: a count, not names), ``names`` the rest;
        the chunk's text follows while not stored."""
        if not self.taken and self.stored:
            return json.dumps(self.chunk.name)
        inline = "" if self.stored else f",{self.chunk.text}"
        rest = json.dumps(self.scattered, separators=(",", ":"))
        return f"[{json.dumps(self.chunk.name)},{self._skip},{rest}{inline}]"

    def text(self) -> str:
        return self._text


@dataclass(frozen=True, eq=False)
class HeadsChunk:
    """The content of one heads segment: pull requests' heads, least recently changed first.
    Immutable and named after a hash of its text, like a queue ``Chunk``."""

    name: str  # "h<hash of text>"; its Lease is "<head Lease>-<name>"
    heads: Mapping[str, Heads]
    text: str  # the stored text: {"heads":{...}}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HeadsChunk) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    @classmethod
    def build(cls, heads: Mapping[str, Heads], texts: Mapping[str, str] | None = None, name: str = "") -> HeadsChunk:
        texts = texts or {}
        body = ",".join([texts.get(g) or head_text(g, h) for g, h in heads.items()])
        text = f'{{"heads":{{{body}}}}}'
        name = name or f"h{hashlib.sha256(text.encode()).hexdigest()[:SEGMENT_HASH]}"
        return cls(name, dict(heads), text)

    @classmethod
    def loads(cls, name: str, text: str) -> HeadsChunk:
        return cls(name, parse_heads(json.loads(text)), text)


@dataclass(frozen=True, eq=False)
class IndexChunk:
    """The content of a queue index: the names of stored queue segments, in queue order, so that
    the head need not name each. Immutable and named after a hash of its text, like a ``Chunk``."""

    name: str  # "i<hash of text>"; its Lease is "<head Lease>-<name>"
    names: tuple[str, ...]
    members: frozenset[str]
    text: str  # the stored text: {"segments":[...]}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IndexChunk) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    @classmethod
    def build(cls, names: Iterable[str], name: str = "") -> IndexChunk:
        names = tuple(map(str, names))
        text = f'{{"segments":{json.dumps(names, separators=(",", ":"))}}}'
        name = name or f"i{hashlib.sha256(text.encode()).hexdigest()[:SEGMENT_HASH]}"
        return cls(name, names, frozenset(names), text)

    @classmethod
    def loads(cls, name: str, text: str) -> IndexChunk:
        return cls.build(json.loads(text).get("segments", []), name)


_Whole = TypeVar("_Whole", HeadsChunk, IndexChunk)


@dataclass(frozen=True)
class WholeSegment(Generic[_Whole]):
    """A heads chunk or a queue index as the head Lease sees it (the head records no state in
    either, unlike a queue ``Segment``): whether its own Lease exists yet (until then the head
    carries its content)."""

    chunk: _Whole
    stored: bool = False

    def text(self) -> str:
        """``"name"`` once stored; else ``["name",{content}]``."""
        name = json.dumps(self.chunk.name)
        return name if self.stored else f"[{name},{self.chunk.text}]"


HeadsSegment = WholeSegment[HeadsChunk]
IndexSegment = WholeSegment[IndexChunk]


StoredChunk = Chunk | HeadsChunk | IndexChunk  # what a segment Lease holds


def load_segment(name: str, text: str | None) -> StoredChunk:
    """A segment's content from its Lease's text (None: its Lease is gone, so it holds nothing)."""
    if name.startswith("h"):
        return HeadsChunk.loads(name, text or '{"heads":{}}')
    if name.startswith("i"):
        return IndexChunk.loads(name, text or '{"segments":[]}')
    return Chunk.loads(name, text or '{"priority":0,"entries":{}}')


def parse_heads(body: Mapping[str, Any]) -> dict[str, Heads]:
    """The ``heads`` of a head's or a heads segment's text, least recently changed first (written
    in that order; texts written before it was kept were not)."""
    heads = {
        group: Heads(str(v[0]), tuple(str(s) for s in v[1]), int(v[2]))
        for group, v in body.get("heads", {}).items()
    }
    return dict(newest_records([heads]))


def newest_records(sources: Iterable[Mapping[str, Heads]]) -> list[tuple[str, Heads]]:
    """Each pull request's newest record in ``sources`` (oldest first: a later record of a pull
    request replaces an earlier one), least recently changed first."""
    merged: dict[str, Heads] = {}
    for source in sources:
        merged.update(source)
    return sorted(merged.items(), key=lambda item: item[1].seq)


def parse_entry(values: list[Any]) -> Entry:
    state, priority, seq, since, *pr = values
    group, sha = (str(pr[0]), str(pr[1])) if len(pr) >= 2 else ("", "")
    return Entry(state, int(priority), int(seq), float(since), group, sha)


# Text that is its own JSON string (no quote, backslash, control or non-ASCII character): run
# names, groups ("<stack>/<app>/<pr>") and shas always are. Writing such a value between quotes
# instead of through ``json.dumps`` matters: a ledger read (a 409, another worker's hint) encodes
# every entry and remembered pull request again, and ``json.dumps`` with ``separators`` builds an
# encoder per call (docs/performance.md, "run-creator's Kubernetes path").
_PLAIN = re.compile(r"[A-Za-z0-9._/-]*")


def _string(value: str) -> str:
    """``value`` as ``json.dumps`` writes it."""
    return f'"{value}"' if _PLAIN.fullmatch(value) else json.dumps(value)


def _number(value: float) -> str:
    """``value`` as ``json.dumps`` writes it (``repr``: for finite floats and ints they agree)."""
    return repr(value) if math.isfinite(value) else json.dumps(value)


def entry_text(name: str, entry: Entry) -> str:
    """The stored text of one entry: ``"name":[state,priority,seq,since(,group,sha)]``, exactly
    what ``json.dumps`` with compact separators writes (a test compares them)."""
    pr = f",{_string(entry.group)},{_string(entry.sha)}" if entry.group else ""
    return (f"{_string(name)}:[{_string(entry.state)},{entry.priority:d},{entry.seq:d},"
            f"{_number(round(entry.since, 3))}{pr}]")


def head_text(group: str, heads: Heads) -> str:
    """The stored text of one pull request's heads: ``"group":[current,[superseded...],seq]``."""
    superseded = ",".join([_string(s) for s in heads.superseded])
    return f"{_string(group)}:[{_string(heads.current)},[{superseded}],{heads.seq:d}]"
