"""Managed versions end to end: made from the template, promoted, retired, rolled back.

Inputs: the controller in-process as ``rollout run`` builds it (polling the spec
repository), a managed checkout spec (4 stable replicas, no keep window: the window itself
is walked tick by tick in ``tests/test_reconcile_managed.py``), the
template Deployment, the real Prometheus judging simulated traffic, and a stand-in for the
Deployment controller that makes Deployments ready (``ReadyDeployments``). Outputs under
test: v2's Deployment is made by the controller (its image, owned by the Rollout) and
promoted at the stable's replicas, v1 is scaled to zero, and a bad v3
is made, rolled back and scaled to zero, while v2 keeps its replicas.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from rollout.controller import Controller, ControllerSettings
from rollout.metrics.prometheus import PrometheusSettings
from rollout_local.processes.prometheus_server import PrometheusServer
from tests.e2e.deployments import TEMPLATE, ReadyDeployments, push_managed
from tests.e2e.world import (
    NAMESPACE,
    SpecRepo,
    TrafficSimulator,
    VersionBehaviour,
    phase_of,
    read_rollout,
    wait_for,
)
from tests.kube_clients import as_body

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@pytest.fixture
def managed_controller(
    app: kubernetes.client.ApiClient,
    kubeconfig: Path,
    prometheus: PrometheusServer,
    spec_repo: SpecRepo,
    tmp_path: Path,
) -> Iterator[Controller]:
    apps = kubernetes.client.AppsV1Api(app)
    for version in ("v2", "v3"):  # left for the controller to make
        apps.delete_namespaced_deployment(f"checkout-{version}", NAMESPACE)
    apps.create_namespaced_deployment(NAMESPACE, as_body(TEMPLATE))
    push_managed(spec_repo, "v1", keep_stable="0s")
    settings = ControllerSettings(
        prometheus=PrometheusSettings(url=prometheus.url),
        git_url=spec_repo.url,
        cache_dir=tmp_path / "cache",
        poll_interval=0.5,
        kubeconfig=str(kubeconfig),
        listen_host="127.0.0.1",
        listen_port=0,
        leader_election=False,
    )
    with ReadyDeployments(app, NAMESPACE):
        running = Controller(settings)
        running.start()
        yield running
        running.stop()


def replicas(app: kubernetes.client.ApiClient, version: str) -> int | None:
    apps = kubernetes.client.AppsV1Api(app)
    try:
        spec = apps.read_namespaced_deployment(f"checkout-{version}", NAMESPACE).spec
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return None
        raise
    assert spec is not None
    return spec.replicas


def test_managed_versions_are_made_promoted_retired_and_rolled_back(
    managed_controller: Controller,
    app: kubernetes.client.ApiClient,
    traffic: TrafficSimulator,
    spec_repo: SpecRepo,
) -> None:
    wait_for(lambda: phase_of(app)[:2] == ("Succeeded", "v1"), timeout=30, what="v1 adopted")
    wait_for(lambda: replicas(app, "v1") == 4, timeout=30, what="v1 at the stable's 4 replicas")
    assert replicas(app, "v2") is None

    push_managed(spec_repo, "v2", keep_stable="0s")
    wait_for(lambda: phase_of(app)[:2] == ("Succeeded", "v2"), timeout=120, what="v2 promoted")
    made = kubernetes.client.AppsV1Api(app).read_namespaced_deployment("checkout-v2", NAMESPACE)
    assert made.spec is not None and made.metadata is not None
    assert made.spec.template.spec is not None
    assert made.spec.template.spec.containers[0].image == "checkout:v2"
    [owner] = made.metadata.owner_references or []
    assert (owner.kind, owner.uid) == ("Rollout", read_rollout(app)["metadata"]["uid"])
    wait_for(lambda: replicas(app, "v2") == 4, timeout=30, what="v2 at the stable's replicas")
    wait_for(lambda: replicas(app, "v1") == 0, timeout=60, what="v1 scaled to 0")

    traffic.behaviour["v3"] = VersionBehaviour(error_rate=0.08)
    push_managed(spec_repo, "v3", keep_stable="0s")
    wait_for(lambda: phase_of(app)[0] == "RolledBack", timeout=120, what="v3 rolled back")
    wait_for(lambda: replicas(app, "v3") == 0, timeout=30, what="v3 scaled to 0")
    assert replicas(app, "v2") == 4
