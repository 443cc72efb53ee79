"""The syntax of plain values that come from outside: environment variables, command-line options,
HTTP headers and query strings, annotations, file names. One rule, one place, for every layer.

A leaf: it imports nothing of tekton-dag, so any package may use it (layer 9 of ``tekton_dag``).
"""

from __future__ import annotations


def ascii_digits(text: str | bytes) -> bool:
    """Whether ``text`` is one or more of the ASCII digits 0-9, and nothing else (no sign, no space).

    ``str.isdigit`` alone also takes other Unicode digits: ``int`` refuses "²" (a ValueError where
    the check promised a number) and reads Arabic-Indic "١٢" as 12 (a value nobody wrote in the
    ASCII the rest of the system speaks). Bytes are ASCII by definition; they are taken too, so
    every caller states the one rule. Bounds and signs are the caller's to check, explicitly."""
    return text.isascii() and text.isdigit()
