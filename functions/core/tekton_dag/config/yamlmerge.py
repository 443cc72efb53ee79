"""What both fast YAML paths share: the signal to hand a document to PyYAML, and ``<<`` merges
built as PyYAML builds them (``documents.py`` and ``fastyaml.py`` use them)."""

from __future__ import annotations

from typing import Any


class Unusual(Exception):
    """The document needs a slower path (in the end PyYAML's full loader) for the same answer."""


def merged(sources: list[Any], explicit: dict[str, Any], overridden: set[int]) -> dict[str, Any]:
    """A mapping with ``<<`` merges as PyYAML builds it: the merged keys first, in source order,
    then the mapping's own keys, which win over merged ones.

    Two cases go to PyYAML instead, because its answer depends on its version or on how it
    flattens nodes in place: a key found in two merged mappings (PyYAML 6.0.3 and later keep
    the last one, unless the two keys are the same string object; older versions the first),
    and merging a mapping that itself overrode a merged key (PyYAML then merges both pairs,
    and the strict loader may see them as repeated keys). ``overridden`` collects the ids of
    the mappings of that second kind.
    """
    result: dict[str, Any] = {}
    for source in sources:
        if type(source) is not dict or id(source) in overridden:
            raise Unusual  # PyYAML explains a non-mapping with its line
        if not result.keys().isdisjoint(source):
            raise Unusual
        result.update(source)
    if not result.keys().isdisjoint(explicit):
        overridden.add(id(result))
    result.update(explicit)
    return result
