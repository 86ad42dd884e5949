"""Fixtures for the end-to-end tests: the local API server, Prometheus scraping the Istio
exporter, a webhook receiver, the spec repository and simulated traffic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from kubelite import LocalApiServer
from rollout_local.processes.prometheus_server import PrometheusServer
from rollout_local.receiver import WebhookReceiver
from tests.e2e.world import SpecRepo, TrafficSimulator, install_app
from tests.kube_fixtures import api_client, apiserver, kubeconfig
from tests.metrics.exporter import IstioExporter

__all__ = ["api_client", "apiserver", "kubeconfig"]


@pytest.fixture
def exporter() -> Iterator[IstioExporter]:
    with IstioExporter() as running:
        yield running


@pytest.fixture
def prometheus(exporter: IstioExporter) -> Iterator[PrometheusServer]:
    with PrometheusServer(scrape_configs=[exporter.scrape_config()], scrape_interval=1.0) as server:
        server.wait_for_targets()
        yield server


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def spec_repo(tmp_path: Path) -> SpecRepo:
    return SpecRepo(tmp_path / "git")


@pytest.fixture
def app(
    apiserver: LocalApiServer, api_client: kubernetes.client.ApiClient, receiver: WebhookReceiver
) -> kubernetes.client.ApiClient:
    install_app(api_client, ["v1", "v2", "v3"], f"{receiver.url}/slack")
    return api_client


@pytest.fixture
def traffic(
    app: kubernetes.client.ApiClient, exporter: IstioExporter
) -> Iterator[TrafficSimulator]:
    simulator = TrafficSimulator(app, exporter).start()
    yield simulator
    simulator.stop()
