"""Fixtures for the metrics tests: one real Prometheus per test module, scraping the
test-driven Istio exporter every second.

They override the function-scoped ones of ``tests/conftest.py``: each test uses its own
workload names, so one server serves a whole module.
"""

from __future__ import annotations

from collections.abc import Iterator

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
