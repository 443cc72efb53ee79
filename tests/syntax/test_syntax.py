"""``tekton_dag.syntax``: the syntax of plain values from outside, checked in one place for every layer."""

from __future__ import annotations

import pytest

from tekton_dag.syntax import ascii_digits

WHOLE_NUMBERS = ["0", "7", "007", "8080", "4294967296", b"42"]
NOT_DIGITS_ONLY = ["", " 1", "1 ", "+1", "-1", "1_000", "1.0", "0x1f", "12a", b"", b"4 2", b"-1"]
# Digits to str.isdigit, not ASCII: int refuses the first two and reads the others as numbers.
UNICODE_DIGITS = [
    "\u00b2",  # superscript two
    "1\u00b2",
    "\u0661\u0662",  # Arabic-Indic 12
    "\u06f3",  # extended Arabic-Indic 3
    "\u0967\u0968",  # Devanagari 12
    "\uff11\uff12",  # fullwidth 12
]


@pytest.mark.parametrize("text", WHOLE_NUMBERS)
def test_ascii_digits_takes_ascii_digits_only(text: str | bytes) -> None:
    assert ascii_digits(text)


@pytest.mark.parametrize("text", NOT_DIGITS_ONLY)
def test_a_sign_space_separator_or_nothing_is_not_ascii_digits(text: str | bytes) -> None:
    assert not ascii_digits(text)


@pytest.mark.parametrize("text", UNICODE_DIGITS)
def test_other_unicode_digits_are_refused_where_str_isdigit_takes_them(text: str) -> None:
    assert text.isdigit()  # the trap the helper exists for
    assert not ascii_digits(text)
