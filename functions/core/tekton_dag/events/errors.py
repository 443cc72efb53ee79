"""The error of event data that can never be handled, apart from the request models
(``events.requests``), so that a function that only refuses bad data (every function's lifecycle,
status-reporter) need not make those models' dataclasses while it starts."""

from __future__ import annotations


class RequestError(ValueError):
    """Event data that can never be handled: a permanent error (4xx to the Broker)."""


__all__ = ["RequestError"]
