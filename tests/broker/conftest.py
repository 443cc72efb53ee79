"""Fixtures for the local Broker tests (helpers live in broker_support.py)."""

from support.broker import start_broker  # noqa: F401  (fixture)
