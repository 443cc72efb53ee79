"""The syntax of plain values that come from outside: environment variables, command-line options,
HTTP headers and query strings, annotations, file names, JSON bodies, and the most of a file read
whole. One rule, one place, for every layer.

A leaf: it imports nothing of tekton-dag, so any package may use it (layer 10, the bottom, of ``tekton_dag``).
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import sys
from decimal import Decimal
from typing import Any

_DOTTED_NUMBERS = re.compile(r"[0-9.]+")  # a host that can only be meant as an IPv4 address
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")  # no re.ASCII needed: [0-9] is ASCII


def ascii_digits(text: str | bytes) -> bool:
    """Whether ``text`` is one or more of the ASCII digits 0-9, and nothing else (no sign, no space).

    ``str.isdigit`` alone also takes other Unicode digits: ``int`` refuses "²" (a ValueError where
    the check promised a number) and reads Arabic-Indic "١٢" as 12 (a value nobody wrote in the
    ASCII the rest of the system speaks). Bytes are ASCII by definition; they are taken too, so
    every caller states the one rule. Bounds and signs are the caller's to check, explicitly."""
    return text.isascii() and text.isdigit()


class _NotJson(ValueError):
    """What the strict decoder's hooks raise: a reason, said after "not valid JSON"."""


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is no JSON value: RFC 8259 has no NaN or Infinity")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):  # rare: only then is the key looked for
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _NotJson(f"object key {key!r} appears more than once")
            seen.add(key)
    return value


# Python's json takes more than JSON, and more than the senders' parser (Go's encoding/json, which
# Knative's Broker and GitHub-side tooling use) takes: NaN, Infinity and -Infinity (no JSON per
# RFC 8259 section 6; Go's scanner: "invalid character 'N' looking for beginning of value", and its
# encoder will not write them, golang/go#3480), a UTF-8 byte order mark (section 8.1: a
# sender MUST NOT add one, a parser MAY ignore it; Go refuses it, "invalid character 'ï' looking
# for beginning of value", golang/go#12254), bytes in UTF-16 or UTF-32 (json.loads(bytes) guesses
# their encoding; section 8.1: JSON between systems MUST be UTF-8) and an object with a key twice
# (section 4: names SHOULD be unique; parsers disagree on which value counts, the "JSON
# interoperability" attacks of Bishop Fox's 2021 survey of 49 parsers: a signed body with two
# "action" keys may be read one way where it is checked and another where it is acted on; Go's
# encoding/json/v2 refuses them by default, jsontext.ErrDuplicateName). No real sender sends any
# of them, so all are refused, saying which.
# The cost (timeit, best of 7, the signed ~25 KB pull_request body of bench/ingest_ack.py, 30 objects,
# 2026-12-03): json.loads(bytes) 93-114 us; strict UTF-8 decode + json.loads(str) 90-92 us;
# + parse_constant 90-95 us (free); + object_pairs_hook 112-116 us, so +20 us per webhook, under 2%
# of webhook-ingest's 1.1-1.3 ms handler (docs/performance.md, ingestcpu). A body of nothing but
# small objects pays most: 25 KB of 3,200 {"a":1} objects 540 us without the hook, 1,515 us with it.
_STRICT = json.JSONDecoder(parse_constant=_no_constant, object_pairs_hook=_unique_object)


def json_value(raw: str | bytes) -> Any:
    """``raw`` read as JSON; ``ValueError`` says, in a sentence fit for a caller, why it is not.

    ``json.loads`` fails in more ways than ``JSONDecodeError``: bytes that are not UTF-8
    (``UnicodeDecodeError``), nesting deeper than the interpreter's stack (``RecursionError``, not
    a ValueError at all) and an integer of more digits than ``int`` converts (a bare ValueError
    whose message advises calling ``sys.set_int_max_str_digits``). And it takes what is no JSON
    (above ``_STRICT``: NaN, a byte order mark, UTF-16, a key twice). Every reader of a request body
    or an event's data goes through here, so none of them answers those with a 500 or reads them."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if text.startswith("\ufeff"):
            raise _NotJson("it starts with a byte order mark (U+FEFF), which RFC 8259 section 8.1 forbids "
                           "a sender to add")
        return _STRICT.decode(text)
    except _NotJson as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError:  # int's digit limit (CVE-2020-10735), the one other ValueError json raises
        raise ValueError(f"a number has more than {sys.get_int_max_str_digits()} digits") from None


# The most of a file read whole, by where such a file comes from; larger is refused before it is read.
# A Secret's data, all keys together, is at most 1 MiB (kubernetes pkg/apis/core/types.go
# MaxSecretSize): token, private key, webhook secret, event key and registry auth files are
# mounted from one. So is a ConfigMap's (ValidateConfigMap, the same 1 MiB): the chart mounts a
# team's configuration files from one (helm teamConfig.files). GitHub caps a webhook payload at
# 25 MB (docs.github.com, "Webhook events and payloads"), as webhook-ingest does (webhooks.intake).
SECRET_FILE_LIMIT = (1024 * 1024, "1 MiB, the most a Kubernetes Secret holds")
CONFIG_FILE_LIMIT = (1024 * 1024, "1 MiB, the most the ConfigMap that holds a team's files can hold")
PAYLOAD_FILE_LIMIT = (25 * 1024 * 1024, "25 MiB, GitHub's cap on a webhook payload")


def file_bytes(path: str | os.PathLike[str], limit: tuple[int, str]) -> bytes:
    """The bytes of the file at ``path``, read whole unless there are more than ``limit`` allows:
    then ``OSError`` (EFBIG) whose ``strerror`` says the limit, so every reader's ``except OSError``
    names it with the file, and nothing of it is kept in memory. A regular file's size is known
    before reading; anything else (a FIFO, ``/dev/zero``) is read up to the limit and no further."""
    most, said = limit
    with open(path, "rb", buffering=0) as file:
        info = os.fstat(file.fileno())
        regular = stat.S_ISREG(info.st_mode)
        if regular and info.st_size > most:
            raise OSError(errno.EFBIG, f"larger than {said}", os.fspath(path))
        if regular:  # one read: a regular file's read comes short only at its end
            data = file.read(info.st_size + 1)
            if len(data) <= info.st_size:
                return data
            chunks, size = [data], len(data)  # it grew since: read on, up to the limit
        else:
            chunks, size = [], 0
        while size <= most:
            chunk = file.read(min(64 * 1024, most + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
    raise OSError(errno.EFBIG, f"larger than {said}", os.fspath(path))


def file_text(path: str | os.PathLike[str], limit: tuple[int, str]) -> str:
    """``file_bytes`` as UTF-8 text (``UnicodeDecodeError`` otherwise), as ``Path.read_text`` with
    ``encoding="utf-8"`` gives it: line breaks made ``\\n``, as universal newlines do."""
    text = file_bytes(path, limit).decode("utf-8")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def tcp_port(text: str) -> int | None:
    """The TCP port ``text`` names, 1 to 65535 in ASCII digits, or None (0, a sign, "8_0", "1e3",
    another script's digits: every one of which ``int`` would take or read otherwise)."""
    if not ascii_digits(text):
        return None
    port = int(text)
    return port if 0 < port < 65536 else None


# A Kubernetes quantity's suffixes (k8s.io/apimachinery pkg/api/resource/suffix.go): binary
# (Ki ... Ei), decimal (m, k ... E). Binary first, so "Mi" is not read as "M" and a stray "i".
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?")
_QUANTITY_SCALE: dict[str | None, Decimal] = {
    None: Decimal(1), "m": Decimal("0.001"),
    **{s: Decimal(1000) ** (i + 1) for i, s in enumerate("kMGTPE")},
    **{s + "i": Decimal(1024) ** (i + 1) for i, s in enumerate("KMGTPE")},
}


def quantity(text: str) -> Decimal | None:
    """The amount a Kubernetes quantity such as "500m", "2Gi" or "1.5" stands for, or None for any
    other text, including the exponent and signed forms Kubernetes also reads ("1e3", "+1"), which
    team.yaml's schema admits nowhere. Not ``kubernetes.utils.parse_quantity``: importing the
    kubernetes package costs about 0.4 s, which a configuration's cold load cannot pay."""
    match = _QUANTITY.fullmatch(text)
    return Decimal(match[1]) * _QUANTITY_SCALE[match[2]] if match else None


def decimal(text: str) -> float | None:
    """The number ``text`` is, written as ASCII digits with at most one '.', or None: ``float``
    alone also takes Arabic-Indic digits, "1_0", "1e3", "inf", "nan" and a sign. Bounds are the
    caller's to check."""
    return float(text) if _DECIMAL.fullmatch(text) else None


def http_url_problem(url: str) -> str | None:
    """Why ``url`` is not an absolute http(s) URL with a host that a client can send to, or None.
    The problem is said after the value: ``f"{url!r} {problem}"``.

    The strictest of what our clients take, so that a bad value is refused where it enters, with its
    name, and not by the first request: httpx (the CLI) refuses control characters and a dotted
    host that is no IPv4 address; aiohttp (the GitHub client) and ``urlsplit`` refuse a port over
    65535 and a broken IPv6 literal; a socket refuses port 0. White space is refused too: ``urlsplit``
    silently strips it at either end (where httpx then sees no host) and no client wants it inside.
    The scheme is case-insensitive (RFC 3986, section 3.1), as every client reads it."""
    import ipaddress  # here: the digit check's many importers (the YAML reader) need neither
    from urllib.parse import urlsplit

    if " " in url or not url.isprintable():  # every white space but " " is not printable
        return "has white space or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", a port not a number
        return f"is not a URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "has no http:// or https:// scheme"
    host = parts.hostname
    if not host:
        return "has no host"
    if _DOTTED_NUMBERS.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"has host {host!r}, which is no IPv4 address"
    if port == 0:
        return "has port 0 (a port is 1 to 65535)"
    return None
