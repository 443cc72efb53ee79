"""``tekton_dag.syntax``: the syntax of plain values from outside, checked in one place for every layer."""

from __future__ import annotations

import pytest
from kubernetes.utils.quantity import parse_quantity

from tekton_dag.syntax import ascii_digits, decimal, http_url_problem, quantity, tcp_port

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


@pytest.mark.parametrize(("text", "port"), [("1", 1), ("8080", 8080), ("065535", 65535)])
def test_a_tcp_port_is_1_to_65535_in_ascii_digits(text: str, port: int) -> None:
    assert tcp_port(text) == port


@pytest.mark.parametrize("text", ["0", "65536", "+80", "8_0", "1e3", " 80", "", *UNICODE_DIGITS])
def test_anything_else_is_no_tcp_port(text: str) -> None:
    assert tcp_port(text) is None


@pytest.mark.parametrize(("text", "number"), [("0", 0.0), ("20", 20.0), ("0.25", 0.25), (".5", 0.5), ("1.", 1.0)])
def test_a_decimal_is_ascii_digits_with_at_most_one_point(text: str, number: float) -> None:
    assert decimal(text) == number


@pytest.mark.parametrize("text", ["", ".", "1.2.3", "-1", "+1", "1_0", "1e3", "inf", "nan", " 1", *UNICODE_DIGITS])
def test_anything_else_is_no_decimal(text: str) -> None:
    assert decimal(text) is None


SENDABLE_URLS = [
    "http://127.0.0.1:8080/",
    "https://api.github.com",
    "https://ghe.example/api/v3",
    "HTTPS://Api.GitHub.com/",  # the scheme is case-insensitive (RFC 3986, section 3.1)
    "http://[::1]:5000/tekton-dag/tekton-dag",
    "http://broker-ingress.knative-eventing.svc.cluster.local/ci/tekton-dag",
    "https://dashboard.example/#/namespaces/{namespace}/pipelineruns/{name}",
    "http://localhost:65535",
]
# (url, what the problem says): each is a URL some client we use would refuse, or read otherwise.
UNSENDABLE_URLS = [
    ("", "has no http:// or https:// scheme"),
    ("api.github.com", "has no http:// or https:// scheme"),
    ("localhost:50x0", "has no http:// or https:// scheme"),
    ("ftp://host/x", "has no http:// or https:// scheme"),
    ("http:host", "has no host"),
    ("http:/host", "has no host"),
    ("http://:80/api", "has no host"),
    ("http://[::1/", "is not a URL (Invalid IPv6 URL)"),
    ("http://ghe:99999", "is not a URL (Port out of range 0-65535)"),
    ("http://ghe:abc", "is not a URL (Port could not be cast"),
    ("http://ghe:+1", "is not a URL (Port could not be cast"),
    ("http://ghe:\u0661\u0662", "is not a URL (Port could not be cast"),  # Arabic-Indic 12: httpx reads port 12
    ("http://ghe:0/", "has port 0"),
    ("http://1.2.3.999/", "has host '1.2.3.999', which is no IPv4 address"),
    (" http://host/", "has white space"),  # urlsplit strips it; httpx then sees no host
    ("http://host /", "has white space"),
    ("http://host/a b", "has white space"),
    ("http://host/\t", "has white space or control characters"),
    ("http://ho\x01st/", "has white space or control characters"),
    ("http://host/\x1c", "has white space or control characters"),  # white space to Python
    ("http://host/\u00a0", "has white space or control characters"),  # no-break space
]


@pytest.mark.parametrize("url", SENDABLE_URLS)
def test_an_absolute_http_url_with_a_host_has_no_problem(url: str) -> None:
    assert http_url_problem(url) is None


@pytest.mark.parametrize(("url", "said"), UNSENDABLE_URLS)
def test_a_url_a_client_would_refuse_is_refused_saying_why(url: str, said: str) -> None:
    problem = http_url_problem(url)
    assert problem is not None and problem.startswith(said), problem


@pytest.mark.parametrize("text", ["0", "2", "1.5", "500m", "1.5m", "64Mi", "3Gi", "0.5Gi", "1Ti", "2Pi", "1Ei",
                                  "1k", "10M", "2G", "3T", "4P", "2E"])
def test_a_quantity_is_the_amount_the_kubernetes_client_reads(text: str) -> None:
    """The official client's parse_quantity is the oracle: the config checks compare what it would."""
    assert quantity(text) == parse_quantity(text)


@pytest.mark.parametrize("text", ["", "Gi", "1e3", "+1", "-1", ".5", "1.", "1 Gi", "1gi", "1Gb", "1Mii", "\uff11"])
def test_other_forms_are_not_quantities_here(text: str) -> None:
    """The exponent and signed forms Kubernetes also reads are refused by team.yaml's schema first."""
    assert quantity(text) is None
