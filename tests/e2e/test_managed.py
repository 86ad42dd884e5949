"""Managed versions end to end: made from the template, promoted, retired, rolled back.

Inputs: the controller in-process as ``rollout run`` builds it (polling the spec
repository), a managed checkout spec (4 stable replicas, the old stable kept 3 s), the
template Deployment, the real Prometheus judging simulated traffic, and a stand-in for the
Deployment controller that makes Deployments ready (``ReadyDeployments``). Outputs under
test: v2's Deployment is made by the controller (its image, owned by the Rollout) and
promoted at the stable's replicas, v1 keeps its replicas through the window and is then
scaled to zero, and a bad v3
is made, rolled back and scaled to zero, while v2 keeps its replicas. Run again with an HPA
present throughout (``tests/e2e/autoscalers.py``: a stand-in for the HPA controller that
sizes its target to 3, and a watch reading the HPA every 50 ms): its target moves from v1
to v2 and at every reading names a Deployment that exists with replicas, and the replicas
the HPA sets are never overwritten (one write per target).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from rollout.controller import Controller, ControllerSettings
from rollout.metrics.prometheus import PrometheusSettings
from rollout_local.processes.prometheus_server import PrometheusServer
from tests.e2e import autoscalers
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


@pytest.fixture(params=["", autoscalers.AUTOSCALER], ids=["replicas", "autoscaler"])
def autoscaler(request: pytest.FixtureRequest) -> str:
    """The HPA the spec names ("" for none)."""
    name: str = request.param
    return name


@pytest.fixture
def managed_controller(
    app: kubernetes.client.ApiClient,
    kubeconfig: Path,
    prometheus: PrometheusServer,
    spec_repo: SpecRepo,
    tmp_path: Path,
    autoscaler: str,
) -> Iterator[Controller]:
    apps = kubernetes.client.AppsV1Api(app)
    for version in ("v2", "v3"):  # left for the controller to make
        apps.delete_namespaced_deployment(f"checkout-{version}", NAMESPACE)
    apps.create_namespaced_deployment(NAMESPACE, as_body(TEMPLATE))
    if autoscaler:
        kubernetes.client.AutoscalingV2Api(app).create_namespaced_horizontal_pod_autoscaler(
            NAMESPACE, as_body(autoscalers.autoscaler("checkout-v1"))
        )
    push_managed(spec_repo, "v1", keep_stable="3s", autoscaler=autoscaler)
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


@pytest.fixture
def hpa(
    app: kubernetes.client.ApiClient, autoscaler: str
) -> Iterator[tuple[autoscalers.AutoscalerStandIn, autoscalers.TargetWatch] | None]:
    """With an HPA: its stand-in controller and the watch on its target, for the test."""
    if not autoscaler:
        yield None
        return
    with contextlib.ExitStack() as stack:
        stand_in = stack.enter_context(autoscalers.AutoscalerStandIn(app, NAMESPACE))
        watch = stack.enter_context(autoscalers.TargetWatch(app, NAMESPACE))
        yield stand_in, watch


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
    hpa: tuple[autoscalers.AutoscalerStandIn, autoscalers.TargetWatch] | None,
    autoscaler: str,
    app: kubernetes.client.ApiClient,
    traffic: TrafficSimulator,
    spec_repo: SpecRepo,
) -> None:
    stable = autoscalers.REPLICAS if hpa else 4  # the HPA's, else the spec's
    wait_for(lambda: phase_of(app)[:2] == ("Succeeded", "v1"), timeout=30, what="v1 adopted")
    wait_for(lambda: replicas(app, "v1") == stable, timeout=30, what="v1 at the stable's size")
    assert replicas(app, "v2") is None

    push_managed(spec_repo, "v2", keep_stable="3s", autoscaler=autoscaler)
    wait_for(lambda: phase_of(app)[:2] == ("Succeeded", "v2"), timeout=120, what="v2 promoted")
    assert replicas(app, "v1") == stable  # kept for the window
    made = kubernetes.client.AppsV1Api(app).read_namespaced_deployment("checkout-v2", NAMESPACE)
    assert made.spec is not None and made.metadata is not None
    assert made.spec.template.spec is not None
    assert made.spec.template.spec.containers[0].image == "checkout:v2"
    [owner] = made.metadata.owner_references or []
    assert (owner.kind, owner.uid) == ("Rollout", read_rollout(app)["metadata"]["uid"])
    wait_for(lambda: replicas(app, "v2") == stable, timeout=30, what="v2 at the stable's size")
    wait_for(lambda: replicas(app, "v1") == 0, timeout=60, what="v1 scaled to 0")

    traffic.behaviour["v3"] = VersionBehaviour(error_rate=0.08)
    push_managed(spec_repo, "v3", keep_stable="3s", autoscaler=autoscaler)
    wait_for(lambda: phase_of(app)[0] == "RolledBack", timeout=120, what="v3 rolled back")
    wait_for(lambda: replicas(app, "v3") == 0, timeout=30, what="v3 scaled to 0")
    assert replicas(app, "v2") == stable
    if hpa is not None:
        stand_in, watch = hpa
        assert watch.broken == []
        assert watch.targets == ["checkout-v1", "checkout-v2"]
        assert watch.rounds > 100  # read throughout, not only at the end
        assert stand_in.writes == {"checkout-v1": 1}  # v2 was handed over at the HPA's 3
