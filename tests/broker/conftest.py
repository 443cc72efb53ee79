"""Fixtures for the local Broker tests (helpers live in tests/support/broker.py)."""

from support.broker import start_broker  # noqa: F401  (fixture)
