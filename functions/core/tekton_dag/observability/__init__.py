"""Observability: the Prometheus metrics every function exports (``metrics``)."""
