"""A manual clock for the doubles that take one (the Tekton controller double's simulated durations)."""

from __future__ import annotations


class Clock:
    """Seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
