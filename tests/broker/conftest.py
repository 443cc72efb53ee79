"""Fixtures for the local Broker tests (helpers live in broker_support.py)."""

from broker_support import start_broker  # noqa: F401  (fixture)
