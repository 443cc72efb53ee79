"""Go's ``time.ParseDuration``, as the Tekton double's webhook reads a PipelineRun's ``spec.timeouts``.

Written from golang/go src/time/format.go (``ParseDuration``, ``leadingInt``, ``leadingFraction``),
apart from the configuration's reading (``config.building.go_duration_nanoseconds``), so that a test
can hold the two to the same answers: every form Go takes (a sign, ``.5h``, ``ns``/``us``/``µs``/
``μs``), and its errors word for word. A ``time.Duration`` is an int64 of nanoseconds: above
2**63 - 1 (2562047h47m16.854775807s) Go answers "time: invalid duration".
"""

from __future__ import annotations

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}
_LIMIT = 1 << 63


def parse_duration(text: str) -> int:
    """The nanoseconds in ``text``; ``ValueError`` with Go's own message when Go refuses it."""
    invalid = ValueError(f"time: invalid duration {_quote(text)}")
    rest, negative = text, False
    if rest[:1] in ("-", "+"):
        negative, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    total = 0
    while rest:
        if not (rest[0] == "." or "0" <= rest[0] <= "9"):
            raise invalid
        whole, rest = _leading(rest)
        value = 0
        for digit in whole:
            if value > _LIMIT // 10:
                raise invalid
            value = value * 10 + int(digit)
            if value > _LIMIT:
                raise invalid
        fraction, scale, post = 0, 1.0, False
        if rest[:1] == ".":
            digits, rest = _leading(rest[1:])
            fraction, scale, post = *_fraction(digits), bool(digits)
        if not whole and not post:
            raise invalid
        unit_end = next((i for i, c in enumerate(rest) if c == "." or "0" <= c <= "9"), len(rest))
        if unit_end == 0:
            raise ValueError(f"time: missing unit in duration {_quote(text)}")
        unit, rest = rest[:unit_end], rest[unit_end:]
        if unit not in _UNITS:
            raise ValueError(f"time: unknown unit {_quote(unit)} in duration {_quote(text)}")
        if value > _LIMIT // _UNITS[unit]:
            raise invalid
        value *= _UNITS[unit]
        if fraction > 0:
            value += int(float(fraction) * (float(_UNITS[unit]) / scale))
            if value > _LIMIT:
                raise invalid
        total += value
        if total > _LIMIT:
            raise invalid
    if negative:
        return -total
    if total > _LIMIT - 1:
        raise invalid
    return total


def _leading(text: str) -> tuple[str, str]:
    end = next((i for i, c in enumerate(text) if not "0" <= c <= "9"), len(text))
    return text[:end], text[end:]


def _fraction(digits: str) -> tuple[int, float]:
    value, scale = 0, 1.0
    for digit in digits:
        if value > (_LIMIT - 1) // 10:
            break
        following = value * 10 + int(digit)
        if following > _LIMIT:
            break
        value, scale = following, scale * 10
    return value, scale


def _quote(text: str) -> str:
    """Go's ``quote`` in format.go for the printable ASCII a duration holds: in double quotes, with
    a backslash before ``"`` and ``\\``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
