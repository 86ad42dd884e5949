"""Fixtures shared by every test folder: the Kubernetes API server (the stand-in, or the
real kube-apiserver for ``cluster`` tests when ``ROLLOUT_TEST_APISERVER`` says so: see
``tests/kube_servers.py``) with an admin kubeconfig, an official client and ``kubectl``
bound to it, and the end-to-end world (Prometheus
scraping the Istio exporter, a webhook receiver, the spec repository, the demo application
and its simulated traffic, and the controller as ``rollout run`` builds it).

A folder's own ``conftest.py`` adds what only it needs, or overrides one of these (the
metrics tests share one Prometheus per module, for example). Each fixture here is
function-scoped and stopped after the test, except ``real_control_plane``: one real
server per session, reset before each test that uses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from kubelite import LocalApiServer
from rollout.controller import Controller, ControllerSettings
from rollout.metrics.prometheus import PrometheusProvider, PrometheusSettings
from rollout_local.processes.kube_control_plane import KubeControlPlane
from rollout_local.processes.prometheus_server import PrometheusServer
from rollout_local.receiver import WebhookReceiver
from tests.e2e.world import HOOK_SECRET, SpecRepo, TrafficSimulator, install_app
from tests.kube_clients import Kubectl, kubectl_runner, new_api_client
from tests.kube_servers import ApiServer, RealCluster, servers_for_cluster_tests
from tests.metrics.exporter import IstioExporter

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


# -- the Kubernetes API ----------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run ``cluster`` tests against the server(s) ``ROLLOUT_TEST_APISERVER`` names."""
    if "apiserver" in metafunc.fixturenames and metafunc.definition.get_closest_marker("cluster"):
        metafunc.parametrize("apiserver", servers_for_cluster_tests(), indirect=True)


@pytest.fixture(scope="session")
def real_control_plane() -> Iterator[RealCluster]:
    """etcd + kube-apiserver for the whole session, with the Istio CRDs (built if needed)."""
    with KubeControlPlane() as plane:
        yield RealCluster(plane)


@pytest.fixture
def apiserver(request: pytest.FixtureRequest) -> Iterator[ApiServer]:
    """The stand-in on a free port, with the Istio CRDs, stopped after the test; or, for a
    ``cluster`` test run against ``real``, the session's real server reset to a fresh
    cluster."""
    if getattr(request, "param", "stand-in") == "real":
        cluster: RealCluster = request.getfixturevalue("real_control_plane")
        yield cluster.fresh()
        return
    with LocalApiServer(port=0, bookmark_interval=1.0) as server:
        yield server


@pytest.fixture
def kubeconfig(apiserver: ApiServer, tmp_path: Path) -> Path:
    """An admin kubeconfig file whose current context points at ``apiserver``."""
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
    apiserver: ApiServer, api_client: kubernetes.client.ApiClient, receiver: WebhookReceiver
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
