"""Metrics providers: ask a monitoring system for numbers (Prometheus)."""
