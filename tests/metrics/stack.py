"""Waiting for Prometheus: until a condition holds, or until a query returns a value.

Helpers for the tests that read the test-driven Istio exporter through a real Prometheus
(the fixtures are in ``tests/conftest.py`` and ``tests/metrics/conftest.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from rollout.metrics.prometheus import PrometheusProvider


def wait_until(
    condition: Callable[[], bool], *, timeout: float = 15.0, every: float = 0.25
) -> None:
    """Poll ``condition`` (bounded in time) until it holds; fail the test otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    pytest.fail(f"condition not met within {timeout}s")


def wait_for_scrape(provider: PrometheusProvider, query: str, expected: float) -> None:
    """Wait until Prometheus has scraped a counter up to ``expected``."""

    def scraped() -> bool:
        series = provider.query_series(query)
        return sum(s.value for s in series) >= expected

    wait_until(scraped)
