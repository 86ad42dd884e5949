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
the HPA sets are never overwritten (one write per target). And with a 60 s window, after
v1 lost replicas: an abort puts all traffic back on v1 only once v1 has its 4 replicas
ready again (the route and v1's ready replicas read together every 50 ms), and v2 is then
scaled to zero.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from rollout.controller import Controller, ControllerSettings
from rollout.kube.store import KubeStateStore
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
    read_virtual_service,
    route_weights,
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
def keep_stable() -> str:
    """The old stable's keep window in the spec."""
    return "3s"


@pytest.fixture
def managed_controller(
    app: kubernetes.client.ApiClient,
    kubeconfig: Path,
    prometheus: PrometheusServer,
    spec_repo: SpecRepo,
    tmp_path: Path,
    autoscaler: str,
    keep_stable: str,
) -> Iterator[Controller]:
    apps = kubernetes.client.AppsV1Api(app)
    for version in ("v2", "v3"):  # left for the controller to make
        apps.delete_namespaced_deployment(f"checkout-{version}", NAMESPACE)
    apps.create_namespaced_deployment(NAMESPACE, as_body(TEMPLATE))
    if autoscaler:
        kubernetes.client.AutoscalingV2Api(app).create_namespaced_horizontal_pod_autoscaler(
            NAMESPACE, as_body(autoscalers.autoscaler("checkout-v1"))
        )
    push_managed(spec_repo, "v1", keep_stable=keep_stable, autoscaler=autoscaler)
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


def ready(app: kubernetes.client.ApiClient, version: str) -> int:
    status = (
        kubernetes.client.AppsV1Api(app)
        .read_namespaced_deployment(f"checkout-{version}", NAMESPACE)
        .status
    )
    return (status.ready_replicas or 0) if status else 0


def abort_watch(
    app: kubernetes.client.ApiClient, stop: threading.Event, seen: list[tuple[int, int]]
) -> None:
    """At once, then every 50 ms: v1's weight on the route and its ready replicas, read
    together."""
    while True:
        weight = route_weights(read_virtual_service(app)).get("v1", 0)
        seen.append((weight, ready(app, "v1")))
        if stop.wait(0.05):
            return


@pytest.mark.parametrize(("autoscaler", "keep_stable"), [("", "60s")])
def test_an_abort_inside_the_keep_window_restores_v1_before_traffic_moves_to_it(
    managed_controller: Controller,
    app: kubernetes.client.ApiClient,
    traffic: TrafficSimulator,
    spec_repo: SpecRepo,
) -> None:
    wait_for(lambda: replicas(app, "v1") == 4, timeout=30, what="v1 at the stable's 4 replicas")
    push_managed(spec_repo, "v2", keep_stable="60s")
    wait_for(lambda: phase_of(app)[:2] == ("Succeeded", "v2"), timeout=120, what="v2 promoted")
    apps = kubernetes.client.AppsV1Api(app)
    apps.patch_namespaced_deployment_scale("checkout-v1", NAMESPACE, {"spec": {"replicas": 1}})
    wait_for(lambda: ready(app, "v1") == 1, timeout=10, what="v1 down to 1 ready replica")
    stop, seen = threading.Event(), list[tuple[int, int]]()
    watcher = threading.Thread(target=abort_watch, args=(app, stop, seen), daemon=True)
    watcher.start()
    try:
        # the first reading before the abort: on a busy machine the controller could
        # otherwise have v1 back at four ready replicas before the watch first looks
        wait_for(lambda: bool(seen), timeout=10, what="the watch's first reading")
        KubeStateStore(app).request_command(NAMESPACE, "checkout", "abort", "alice")
        wait_for(lambda: phase_of(app)[:2] == ("RolledBack", "v1"), timeout=30, what="abort")
        wait_for(lambda: replicas(app, "v2") == 0, timeout=30, what="v2 scaled to 0")
        wait_for(lambda: any(w for w, _ in seen), timeout=5, what="the watch seeing v1 routed")
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert route_weights(read_virtual_service(app)) == {"v1": 100}
    assert replicas(app, "v1") == 4
    on_v1 = [ready for weight, ready in seen if weight > 0]
    assert min(on_v1) == 4, seen  # never routed to v1 before its replicas were ready
    assert seen[0] == (0, 1)  # it started from v1 out of the route with one replica
