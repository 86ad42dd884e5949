"""Fixtures: a real Prometheus scraping the test-driven Istio exporter every second.

Shared by the metrics and analysis tests (their ``conftest.py`` import these fixtures).
Each test uses its own workload names, so one server serves a whole test module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from rollout.metrics.prometheus import PrometheusProvider, PrometheusSettings
from rollout_local.processes.prometheus_server import PrometheusServer
from tests.metrics.exporter import IstioExporter

SCRAPE_SECONDS = 1.0


@pytest.fixture(scope="module")
def exporter() -> Iterator[IstioExporter]:
    with IstioExporter() as running:
        yield running


@pytest.fixture(scope="module")
def prometheus(exporter: IstioExporter) -> Iterator[PrometheusServer]:
    server = PrometheusServer(
        scrape_configs=[exporter.scrape_config()], scrape_interval=SCRAPE_SECONDS
    )
    with server:
        server.wait_for_targets()
        yield server


@pytest.fixture(scope="module")
def provider(prometheus: PrometheusServer) -> Iterator[PrometheusProvider]:
    client = PrometheusProvider(PrometheusSettings(url=prometheus.url))
    yield client
    client.close()


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
