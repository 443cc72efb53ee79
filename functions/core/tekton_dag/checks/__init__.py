"""Decisions for status-reporter, no I/O: a run's check state from its events (monotonic), check
names and summaries, and the ``/retest``-style commands parsed from PR comments."""
