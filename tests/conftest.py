"""Fixtures shared by every test folder: the local Kubernetes API server with a kubeconfig,
an official client and ``kubectl`` bound to it, and the end-to-end world (Prometheus
scraping the Istio exporter, a webhook receiver, the spec repository, the demo application
and its simulated traffic, and the controller as ``rollout run`` builds it).

A folder's own ``conftest.py`` adds what only it needs, or overrides one of these (the
metrics tests share one Prometheus per module, for example). Each fixture here is
function-scoped and stopped after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from kubelite import LocalApiServer
from rollout.controller import Controller, ControllerSettings
from rollout.metrics.prometheus import PrometheusProvider, PrometheusSettings
from rollout_local.processes.prometheus_server import PrometheusServer
from rollout_local.receiver import WebhookReceiver
from tests.e2e.world import HOOK_SECRET, SpecRepo, TrafficSimulator, install_app
from tests.kube_clients import Kubectl, kubectl_runner, new_api_client
from tests.metrics.exporter import IstioExporter

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


# -- the Kubernetes API ----------------------------------------------------------------


@pytest.fixture
def apiserver() -> Iterator[LocalApiServer]:
    """A local API server on a free port, with the Istio CRDs; stopped after the test."""
    with LocalApiServer(port=0, bookmark_interval=1.0) as server:
        yield server


@pytest.fixture
def kubeconfig(apiserver: LocalApiServer, tmp_path: Path) -> Path:
    """A kubeconfig file whose current context points at ``apiserver``."""
    return apiserver.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def api_client(kubeconfig: Path) -> Iterator[kubernetes.client.ApiClient]:
    """An ``ApiClient`` for ``apiserver``, as the controller would build one."""
    client = new_api_client(kubeconfig)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    """Run the real ``kubectl --kubeconfig ... ARGS`` against ``apiserver``."""
    return kubectl_runner(kubeconfig, tmp_path / "kubectl-cache")


# -- the end-to-end world ----------------------------------------------------------------


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
def provider(prometheus: PrometheusServer) -> Iterator[PrometheusProvider]:
    client = PrometheusProvider(PrometheusSettings(url=prometheus.url))
    yield client
    client.close()


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


@pytest.fixture
def controller(
    kubeconfig: Path,
    prometheus: PrometheusServer,
    spec_repo: SpecRepo,
    tmp_path: Path,
    app: kubernetes.client.ApiClient,
) -> Iterator[Controller]:
    """The controller in-process as ``rollout run`` builds it, with v1 in the spec
    repository; only the push webhook syncs."""
    spec_repo.push("v1")
    settings = ControllerSettings(
        prometheus=PrometheusSettings(url=prometheus.url),
        git_url=spec_repo.url,
        cache_dir=tmp_path / "cache",
        poll_interval=3600,  # only the push webhook syncs
        kubeconfig=str(kubeconfig),
        listen_host="127.0.0.1",
        listen_port=0,
        hook_secret=HOOK_SECRET,
        lease_namespace="rollout-system",
        identity="e2e-controller",
    )
    running = Controller(settings)
    running.start()
    yield running
    running.stop()
