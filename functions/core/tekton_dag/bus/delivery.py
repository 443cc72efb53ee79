"""Knative's DeliverySpec: how often, how late and where to a failed delivery goes.

The fields and their meaning follow ``eventing.knative.dev`` (duck/v1 ``DeliverySpec``):
``retry`` further attempts after the first; ``backoffPolicy`` ``linear`` (delay x i) or
``exponential`` (delay x 2^i) before retry i + 1, i counted from 0 (so exponential waits
delay, 2 x delay, 4 x delay, ...; linear retries once at once, then waits delay, 2 x delay, ...);
``backoffDelay`` an ISO-8601 duration;
``timeout`` per attempt; ``deadLetterSink`` where an event goes after the last attempt.
A spec is taken whole, never merged field by field with another: a field left out is no retry, no
wait (unless both ``backoffPolicy`` and ``backoffDelay`` are set), Knative's dispatcher reads it so
(pkg/kncloudevents/retries.go ``RetryConfigFromDeliverySpec``: ``noRetries``, a Backoff only when
both are set). How a Trigger's spec and its Broker's combine is ``triggers.Trigger.delivery_with``.
Which answers are retried is Knative's data-plane contract: network errors, 5xx, 404, 408,
409 and 429; any other answer that is not 2xx is final.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

RETRYABLE_STATUS = frozenset({404, 408, 409, 429})
DEFAULT_TIMEOUT_S = 30.0

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.ASCII,  # \d alone takes any Unicode digit (an Arabic-Indic one), which Knative's Go parser refuses
)


class DeliverySpecError(ValueError):
    """A DeliverySpec field has a value Knative would reject; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_duration(text: str) -> float:
    """Seconds in an ISO-8601 duration such as ``PT0.2S``, ``PT1M30S`` or ``P1D``.

    Years, months and weeks are refused: their length is ambiguous and Knative never uses them.
    """
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"{text!r} is not an ISO-8601 duration like PT0.2S")
    parts: dict[str, float] = {k: float(v) for k, v in match.groupdict().items() if v}
    return parts.get("days", 0) * 86400 + parts.get("hours", 0) * 3600 + parts.get("minutes", 0) * 60 + parts.get(
        "seconds", 0
    )


@dataclass(frozen=True)
class Destination:
    """A Knative Destination: a reference to an addressable object, or a URI, or both."""

    ref_kind: str | None = None
    ref_name: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class DeliverySpec:
    retry: int = 0
    backoff_policy: str = "exponential"
    backoff_delay_s: float = 0.2
    timeout_s: float = DEFAULT_TIMEOUT_S
    dead_letter_sink: Destination | None = None

    def attempts(self) -> int:
        """All tries of one delivery: the first plus ``retry``."""
        return 1 + self.retry

    def backoff(self, index: int) -> float:
        """Seconds to wait before retry ``index + 1``: Knative's ``Backoff(attemptNum)``
        (knative/eventing pkg/kncloudevents/retries.go ``RetryConfigFromDeliverySpec``), which
        go-retryablehttp's ``Client.Do`` calls with its loop index, 0 before the first retry
        (hashicorp/go-retryablehttp client.go, v0.7.7 as knative/eventing's go.mod pins it)."""
        if self.backoff_policy == "linear":
            return self.backoff_delay_s * index
        return self.backoff_delay_s * float(2**index)

def is_retryable(status: int) -> bool:
    """Whether Knative retries a delivery that was answered with ``status``."""
    return status >= 500 or status in RETRYABLE_STATUS


def parse_destination(raw: Any, field: str) -> Destination:
    if not isinstance(raw, dict):
        raise DeliverySpecError(field, "must be a mapping with ref and/or uri")
    ref, uri = raw.get("ref"), raw.get("uri")
    if ref is None and uri is None:
        raise DeliverySpecError(field, "needs ref or uri")
    if uri is not None and not isinstance(uri, str):
        raise DeliverySpecError(f"{field}.uri", "must be a string")
    if ref is None:
        return Destination(uri=uri)
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str) or not ref.get("name"):
        raise DeliverySpecError(f"{field}.ref.name", "must be a non-empty string")
    if not isinstance(ref.get("kind"), str):
        raise DeliverySpecError(f"{field}.ref.kind", "must be a string")
    return Destination(ref_kind=ref["kind"], ref_name=ref["name"], uri=uri)


_FIELDS = {
    "retry": "retry",
    "backoffPolicy": "backoff_policy",
    "backoffDelay": "backoff_delay_s",
    "timeout": "timeout_s",
    "deadLetterSink": "dead_letter_sink",
}


def parse_delivery(raw: Any, field: str) -> DeliverySpec | None:
    """The DeliverySpec of manifest data as Knative's dispatcher reads it (module docstring), or
    None when there is none."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise DeliverySpecError(field, "must be a mapping")
    unknown = set(raw) - set(_FIELDS) - {"retryAfterMax", "format", "backoffMax"}
    if unknown:
        raise DeliverySpecError(f"{field}.{sorted(unknown)[0]}", "is not a DeliverySpec field")
    values: dict[str, Any] = {}
    retry = raw.get("retry")
    if retry is not None:
        if not isinstance(retry, int) or isinstance(retry, bool) or retry < 0:
            raise DeliverySpecError(f"{field}.retry", "must be a whole number >= 0")
        values["retry"] = retry
    policy = raw.get("backoffPolicy")
    if policy is not None:
        if policy not in ("linear", "exponential"):
            raise DeliverySpecError(f"{field}.backoffPolicy", "must be linear or exponential")
        values["backoff_policy"] = policy
    for key in ("backoffDelay", "timeout"):
        if raw.get(key) is not None:
            try:
                values[_FIELDS[key]] = parse_duration(raw[key])
            except ValueError as exc:
                raise DeliverySpecError(f"{field}.{key}", str(exc)) from None
    if raw.get("deadLetterSink") is not None:
        values["dead_letter_sink"] = parse_destination(raw["deadLetterSink"], f"{field}.deadLetterSink")
    if "backoff_policy" not in values or "backoff_delay_s" not in values:
        values["backoff_delay_s"] = 0.0  # no Backoff function: every retry at once
    return DeliverySpec(**values)
