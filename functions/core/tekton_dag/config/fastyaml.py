"""The fastest way to a document: yaml-rs parses it (Rust, YAML 1.2), then checks make sure the
answer is the one PyYAML's safe loader (YAML 1.1) gives, or hand the document on.

yaml-rs builds the whole document in Rust, about 4 times faster than libyaml's events driven from
Python (``documents._load_plain``), which was most of a cold start (docs/performance.md).
It resolves aliases (as copies) and refuses repeated keys, but it speaks YAML 1.2: plain
``yes``/``on``/``off``, ``012``, ``0o17``, ``1e3``, ``1:20`` or dates mean other things
than in PyYAML, and it ignores tags, repeated anchors and ``<<`` merges. So ``load`` raises
``Unusual`` (the caller goes on to the slower paths) unless the answer is certainly PyYAML's:

- before parsing: no ``!`` (tags), no byte-order mark, no ``---`` or ``...`` (directives,
  several documents), no tab, no character PyYAML's reader refuses (control characters), no
  anchor defined twice or named as PyYAML would refuse, no quoted ``"<<"`` key, none of the
  characters only YAML 1.1 takes for line breaks (U+0085, U+2028, U+2029), no block scalar
  (``|``, ``>``), no node starting with ``?``, ``:``, ``%``, ``@`` or a backquote, and no ``:``
  just before ``]``, ``}`` or ``,`` (YAML 1.2 reads some of these where YAML 1.1 refuses them);
- after: every string that PyYAML would read as something else if it were plain must be one
  that yaml-rs also reads as something else when plain, so it was quoted (``"8080"``);
  every key is a string; no float (``1e3`` is a string to PyYAML); no integer in a document
  with a leading-zero, ``0X``/``0B`` or ``_`` number (``012`` is 10 to PyYAML, 12 here;
  ``0X1F`` is a string to PyYAML); no null in a document with aliases (yaml-rs's answer to an
  alias of an enclosing node);
- ``<<`` merges are applied here with ``yamlmerge.merged``, PyYAML's order and overrides.

tests/config/test_fastyaml.py compares it with ``yaml.safe_load`` on edge cases, generated
documents and the repository's own configuration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any

import yaml

from tekton_dag.config.yamlmerge import Unusual, merged
from tekton_dag.syntax import ascii_digits


@cache
def yaml_rs() -> Any:
    """The module, imported on first use (not by a process that loads from a snapshot), or None."""
    try:
        import yaml_rs
    except ImportError:  # optional speed: documents.py's paths give the same data without it
        return None
    return yaml_rs


# PyYAML's implicit resolvers by first character, compiled when yaml is imported. One pattern
# joining them all cost 13 ms to compile at a function's first configuration load.
_RESOLVERS = yaml.resolver.Resolver.yaml_implicit_resolvers
_WILDCARD = tuple(_RESOLVERS.get(None, ()))


def _typed(value: str) -> bool:
    """Whether PyYAML resolves ``value``, written plain, to anything but a string: its own look-up
    (yaml/resolver.py, ``BaseResolver.resolve``: the resolvers of the first character, "" for an
    empty value, then those for any character)."""
    for resolvers in (_RESOLVERS.get(value[:1], ()), _WILDCARD):
        for _, regexp in resolvers:
            if regexp.match(value):
                return True
    return False


_TYPED_FIRST = frozenset(k for k in _RESOLVERS if k is not None)
_ANCHOR = re.compile(r"&([^ \t\r\n,\[\]{}]*)")  # to the next YAML space: "a\xa0b" is no name PyYAML takes
_ALIAS = re.compile(r"\*([^ \t\r\n,\[\]{}]*)")
# Text screens look for characters with str.find, and regular expressions only where they start
# with one literal character: ``re`` scans for a character class at ~25 ns a character, 10 to
# 100 times slower than str.find (a screen such as "[|>?%@`]" cost more than the parse).
_INDICATORS = "|>?%@`"
_COLON = re.compile(r":(?=[^ \r\n])")  # ": " separates a key: not this one
_FLOW_ENDS = ("]", "}", ",")
_TOKENS = re.compile(r"[\s\[{,]")
_NAME = re.compile(r"[0-9A-Za-z_-]+")  # what PyYAML's scanner accepts
_LEADING_ZERO = re.compile(r"0[0-9oOxXbB_]")
_WORD = re.compile(r"\w")
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n\r"  # what PyYAML's reader takes below U+0080
_FINE: set[str] = set()  # strings already checked (keys, ports, versions recur in every file)


def load(text: str) -> Any:
    """The document, as ``yaml.safe_load`` gives it; raises ``Unusual`` when that is not certain."""
    parser = yaml_rs()
    if parser is None or "!" in text or "\ufeff" in text or "---" in text:
        raise Unusual
    if "\x85" in text or "\u2028" in text or "\u2029" in text:
        raise Unusual  # line breaks in YAML 1.1 (PyYAML folds them), ordinary characters in 1.2
    if "\t" in text:
        raise Unusual  # PyYAML refuses tabs in many places yaml-rs accepts them
    if not _printable(text):
        raise Unusual  # PyYAML's reader refuses control characters; yaml-rs reads them
    if text.startswith("...") or "\n..." in text:
        raise Unusual  # a document end: yaml-rs reads on (a list of documents), PyYAML refuses
    if "<<" in text and ('"<<"' in text or "'<<'" in text):
        raise Unusual
    if ("[" in text or "{" in text) and ("?" in text or _multiline_flow(text)):
        # In a flow collection PyYAML ends a plain scalar at "?" and refuses keys over several
        # lines; YAML 1.2 does neither.
        raise Unusual
    if _indicator_at_node_start(text):
        raise Unusual  # block scalars (PyYAML chomps an empty one to ""), reserved or flow-only indicators
    if "&" in text or "*" in text:
        anchors = _node_names(_ANCHOR, text)
        if len(anchors) != len(set(anchors)):
            raise Unusual  # PyYAML refuses a repeated anchor, with its line
        if not all(map(_NAME.fullmatch, anchors)) or not all(map(_NAME.fullmatch, _node_names(_ALIAS, text))):
            raise Unusual  # a name PyYAML's scanner refuses
    try:
        data = parser.loads(text, parse_datetime=False)
    except Exception:  # a syntax error, repeated key, undefined alias, too many aliases: PyYAML says which
        raise Unusual from None
    walk = _Walk(aliased="*" in text)
    walk.check(data)
    if walk.integers and _number_trap(text):
        raise Unusual
    return data


def _printable(text: str) -> bool:
    """Whether PyYAML's reader takes every character (``yaml.reader.Reader.NON_PRINTABLE``). Its
    character class scans ~5 ns a character (50 ms over 3,000 files), so ASCII text, almost
    every file, is checked by deleting the characters it may hold from its bytes (6 ms)."""
    if text.isascii():
        return not text.encode("ascii").translate(None, _PRINTABLE_ASCII)
    return yaml.reader.Reader.NON_PRINTABLE.search(text) is None


def _multiline_flow(text: str) -> bool:
    """Whether a ``[`` or ``{`` has a line break before the next ``]`` and ``}`` (a flow collection
    over several lines, perhaps): the regular expression ``[\\[{][^\\]}\\n]*\\n``."""
    for opener in "[{":
        start = text.find(opener)
        while start >= 0:
            end = text.find("\n", start)
            if end < 0:
                break  # no line break after it, nor after any later opener
            if text.find("]", start, end) < 0 and text.find("}", start, end) < 0:
                return True
            start = text.find(opener, start + 1)
    return False


def _indicator_at_node_start(text: str) -> bool:
    """Whether an indicator (``|>?%@`` or a backquote), or a ``:`` not followed by a space,
    starts a node (see ``_at_node_start``); or a ``:`` comes just before ``]``, ``}`` or ``,``
    (PyYAML refuses ``[a:]`` in a flow collection, YAML 1.2 reads ``{a: null}``)."""
    for indicator in _INDICATORS:
        index = text.find(indicator)
        while index >= 0:
            if _at_node_start(text, index):
                return True
            index = text.find(indicator, index + 1)
    return any(text[match.end():match.end() + 1] in _FLOW_ENDS or _at_node_start(text, match.start())
               for match in _COLON.finditer(text))


def _number_trap(text: str) -> bool:
    """Whether an integer may be one PyYAML reads otherwise (``012`` is 10 to PyYAML, 12 to
    yaml-rs; ``0o12``, ``1_000``, ``_3``; ``0X1F`` and ``0B1``, strings to PyYAML, which takes only
    a lower-case ``0x`` and ``0b``): the regular expression ``\\b0[0-9oOxXbB_]|[0-9]_|_[0-9]``."""
    index = text.find("_")
    while index >= 0:
        if (index and ascii_digits(text[index - 1])) or ascii_digits(text[index + 1:index + 2]):
            return True
        index = text.find("_", index + 1)
    return any(not match.start() or not _WORD.match(text, match.start() - 1)
               for match in _LEADING_ZERO.finditer(text))


def _node_names(pattern: re.Pattern[str], text: str) -> list[str]:
    """The names after ``&`` (or ``*``) where a node starts (see ``_at_node_start``)."""
    return [match.group(1) for match in pattern.finditer(text) if _at_node_start(text, match.start())]


def _at_node_start(text: str, index: int) -> bool:
    """Whether ``text[index]`` may start a node: after "key: ", "- ", "? ", "[", "{", ",", or first
    on a line; not inside a plain scalar such as "npm ci && npm run build" or "release/*".
    It looks at most 80 characters back, by position: no slice or stripped copy is made (a stack
    with anchors asks ~55 times; a regular expression for the context was 20 times slower)."""
    start = index - 80 if index > 80 else 0
    end = index  # ``text[start:end]``: what comes before, without the spaces just before ``index``
    while end > start and text[end - 1] == " ":
        end -= 1
    if end < index:  # after a space: maybe after an anchor, or after a key's ":", a "-" or a "?"
        anchor = text.rfind("&", start, end)
        if anchor >= 0 and not _TOKENS.search(text, anchor, end):
            return _at_node_start(text, anchor)  # after its anchor: where that starts
        if start > 0 and not _TOKENS.search(text, start, end):
            return True  # one token fills the window (an anchor of 80 characters?): assume it may
        return end == start or text[end - 1] in "\n[{,:?-"
    return end == start or text[end - 1] in "\n[{,"


# Words PyYAML types (true, null, yes, off...) have at most 5 letters; numbers, dates and the
# rest start with one of these.
_LETTERS = frozenset("nNtTfFoOyY")


def _checked_string(value: str) -> None:
    """A string PyYAML would type when plain is fine only if yaml-rs would type it too, when plain:
    then it was quoted, and PyYAML reads a quoted scalar as a string as well."""
    if value in _FINE:
        return
    if _typed(value) and not _typed_when_plain(value):
        raise Unusual
    if len(_FINE) < 10_000:
        _FINE.add(value)


def _typed_when_plain(value: str) -> bool:
    try:
        loaded: Any = yaml_rs().loads(value, parse_datetime=False)
    except Exception:  # not a plain scalar at all (`*`, `&`): it can only have been quoted
        return True
    return type(loaded) is not str


class _Walk:
    """One pass over a parsed document: checks its scalars and keys, then applies ``<<`` merges in
    place, innermost first (so no container is replaced, and a merged alias is merged already).
    A loop with its own stack, not recursion: a call per container was half of the pass."""

    __slots__ = ("aliased", "integers", "overridden")

    def __init__(self, aliased: bool) -> None:
        self.aliased = aliased
        self.integers = False
        self.overridden: set[int] = set()

    def check(self, document: Any) -> None:
        pending: list[Any] = [[document]]
        merging: list[dict[str, Any]] = []  # mappings with ``<<``, outermost first
        while pending:
            container = pending.pop()
            if type(container) is dict:
                if not container.keys() <= _FINE:
                    self.keys(container)
                if "<<" in container:
                    merging.append(container)
                values: Iterable[Any] = container.values()
            else:
                values = container
            for value in values:
                kind = type(value)
                if kind is str:
                    if value and (value[0] not in _TYPED_FIRST or (len(value) > 5 and value[0] in _LETTERS)):
                        continue
                    if value not in _FINE:
                        _checked_string(value)
                elif kind is dict or kind is list:
                    pending.append(value)
                elif kind is int:
                    self.integers = True
                elif value is None:
                    if self.aliased:
                        raise Unusual  # yaml-rs's answer to an alias of an enclosing node
                elif kind is not bool:
                    raise Unusual  # floats, and whatever else yaml-rs may build
        for mapping in reversed(merging):
            self.merge(mapping)

    @staticmethod
    def keys(mapping: dict[Any, Any]) -> None:
        for key in mapping:
            if type(key) is not str:
                raise Unusual  # StrictLoader refuses it with its line
            if key != "<<":
                _checked_string(key)

    def merge(self, mapping: dict[str, Any]) -> None:
        sources = mapping.pop("<<")
        result = merged(sources if type(sources) is list else [sources], mapping, self.overridden)
        if id(result) in self.overridden:  # ``mapping`` is what stays of it
            self.overridden.remove(id(result))
            self.overridden.add(id(mapping))
        mapping.clear()
        mapping.update(result)
