"""Fixtures for the analysis tests: a real Prometheus and the test-driven Istio exporter."""

from tests.metrics.stack import exporter, prometheus, provider

__all__ = ["exporter", "prometheus", "provider"]
