"""Cluster mode: Rollouts applied by someone else (as Argo CD would) are run, never rewritten.

The controller runs in-process with ``source="cluster"`` and ``namespace="shop"`` against
the local API server, the real Prometheus and simulated traffic; there is no Git at all.
Inputs: a Rollout created with the official client carrying Argo CD's tracking label and
annotation, a later change of its ``spec.version`` (a merge patch, as a sync would send),
an invalid update of it mid-rollout, a second Rollout whose spec the model refuses, a
third naming an unknown policy (the first uses one given with ``--policies``), a Rollout
in another namespace, and the deletion of Rollouts. Outputs: adoption and
promotion (status and VirtualService weights), the invalid update reported while the
rollout carries on with its last valid spec, the invalid Rollout's condition and Event
while the other carries on, deleted Rollouts forgotten, and the API server's request log
filtered by the controller's User-Agent: its only writes
to ``rollouts`` are to the ``status`` subresource.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from rollout.controller import Controller, ControllerSettings
from rollout.metrics.prometheus import PrometheusSettings
from rollout_local.processes.prometheus_server import PrometheusServer
from tests.e2e.world import (
    NAMESPACE,
    REPO_ROOT,
    TrafficSimulator,
    read_rollout,
    read_virtual_service,
    route_weights,
    wait_for,
)
from tests.kube_clients import custom_objects
from tests.kube_servers import ApiServer

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

GROUP, VERSION, PLURAL = "canary.rollout.dev", "v1alpha1", "rollouts"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def argo_rollout(name: str, version: str, *, namespace: str = NAMESPACE) -> dict[str, Any]:
    """A Rollout as Argo CD applies it from Git: its tracking label and annotation on."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Rollout",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/instance": "shop"},
            "annotations": {
                "argocd.argoproj.io/tracking-id": f"shop:{GROUP}/Rollout:{namespace}/{name}",
            },
        },
        "spec": {
            "version": version,
            "traffic": {
                "host": "checkout.shop.svc.cluster.local",
                "destinationRule": "checkout",
                "virtualServices": [{"name": "checkout"}],
            },
            "steps": [
                {"setWeight": 20},
                {"analyze": {"duration": "3s"}},
                {"setWeight": 50},
                {"analyze": {"duration": "3s"}},
                {"setWeight": 100},
            ],
            "analysis": {
                "interval": "1s",
                "minSampleSize": 100,
                "policies": [{"name": "team-error-ratio"}],  # from --policies
            },
            "progressDeadline": "2m",
        },
    }


@pytest.fixture
def controller(
    kubeconfig: Path,
    prometheus: PrometheusServer,
    tmp_path: Path,
    app: kubernetes.client.ApiClient,
) -> Iterator[Controller]:
    policies = tmp_path / "policies"
    policies.mkdir()
    shipped = (REPO_ROOT / "policies" / "istio-error-ratio.yaml").read_text()
    team_policy = shipped.replace("name: istio-error-ratio", "name: team-error-ratio")
    (policies / "team-error-ratio.yaml").write_text(team_policy)
    settings = ControllerSettings(
        prometheus=PrometheusSettings(url=prometheus.url),
        source="cluster",
        policy_paths=(str(policies),),
        namespace=NAMESPACE,
        cache_dir=tmp_path / "cache",
        poll_interval=1.0,
        kubeconfig=str(kubeconfig),
        listen_host="127.0.0.1",
        listen_port=0,
        lease_namespace="rollout-system",
        identity="e2e-cluster-source",
    )
    running = Controller(settings)
    running.start()
    yield running
    running.stop()


def status(api: kubernetes.client.ApiClient, name: str = "checkout") -> dict[str, Any]:
    custom = custom_objects(api)
    body: dict[str, Any] = custom.get_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, name
    )
    return body.get("status") or {}


def test_rollouts_applied_by_argo_cd_are_adopted_promoted_and_never_rewritten(
    controller: Controller,
    apiserver: ApiServer,
    app: kubernetes.client.ApiClient,
    traffic: TrafficSimulator,
) -> None:
    custom = custom_objects(app)
    applied = argo_rollout("checkout", "v1")
    custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, applied)
    broken = copy.deepcopy(applied)
    broken["metadata"]["name"] = "broken"
    # a mistake the CRD's schema cannot see (decreasing weights it refuses at admission)
    broken["spec"]["workload"] = {"subset": "{versoin}"}
    custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, broken)
    unknown = copy.deepcopy(applied)
    unknown["metadata"]["name"] = "unknown-policy"
    unknown["spec"]["analysis"]["policies"] = [{"name": "no-such-policy"}]
    custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, unknown)
    kubernetes.client.CoreV1Api(app).create_namespace(
        kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name="elsewhere"))
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, "elsewhere", PLURAL, argo_rollout("checkout", "v1", namespace="elsewhere")
    )

    wait_for(lambda: status(app).get("stableVersion") == "v1", timeout=30, what="v1 adopted")
    assert status(app)["phase"] == "Succeeded"

    def reported_invalid(name: str = "broken") -> dict[str, Any] | None:
        conditions = status(app, name).get("conditions") or []
        return next((c for c in conditions if c["type"] == "SpecValid"), None)

    unknown_condition = wait_for(
        lambda: reported_invalid("unknown-policy"), timeout=15, what="the unknown policy"
    )
    assert "unknown policy 'no-such-policy'" in unknown_condition["message"]
    condition = wait_for(reported_invalid, timeout=15, what="the invalid spec reported")
    assert condition["status"] == "False" and condition["reason"] == "InvalidSpec"
    assert "spec.workload.subset" in condition["message"]
    assert "unknown placeholder {versoin}" in condition["message"]
    events = kubernetes.client.CoreV1Api(app).list_namespaced_event(
        NAMESPACE, field_selector="involvedObject.name=broken"
    )
    assert [e.reason for e in events.items] == ["SpecInvalid"]
    assert events.items[0].type == "Warning"

    # the sync changes the version, as Argo CD would after a commit
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, "checkout", {"spec": {"version": "v2"}}
    )
    wait_for(
        lambda: route_weights(read_virtual_service(app)).get("v2") == 20,
        timeout=30,
        what="v2 at 20%",
    )
    # a bad sync mid-rollout: the rollout carries on with its last valid spec, and says so
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, "checkout", {"spec": {"progressDeadline": "soon"}}
    )

    def flagged() -> dict[str, Any] | None:
        conditions = status(app).get("conditions") or []
        return next((c for c in conditions if c["type"] == "SpecValid"), None)

    flagged_condition = wait_for(flagged, timeout=15, what="the invalid update reported")
    assert "spec.progressDeadline" in flagged_condition["message"]
    assert status(app)["phase"] == "Progressing" and status(app)["canaryVersion"] == "v2"
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, "checkout", {"spec": {"progressDeadline": "2m"}}
    )
    seen_weights: set[int] = {20}

    def promoted() -> bool:
        seen_weights.add(route_weights(read_virtual_service(app)).get("v2", 0))
        current = status(app)
        return (current.get("phase"), current.get("stableVersion")) == ("Succeeded", "v2")

    wait_for(promoted, timeout=90, what="v2 promoted")
    assert route_weights(read_virtual_service(app)) == {"v2": 100}
    assert {20, 50} <= seen_weights
    assert not [c for c in status(app).get("conditions", []) if c["type"] == "SpecValid"]
    assert traffic.invalid_weights == []
    body = read_rollout(app)
    assert body["spec"] == {**applied["spec"], "version": "v2"}  # the spec as Argo CD left it
    assert body["metadata"]["annotations"] == applied["metadata"]["annotations"]
    assert body["metadata"]["labels"] == applied["metadata"]["labels"]
    assert status(app, "broken").get("stableVersion") is None  # never run
    other = custom.get_namespaced_custom_object(GROUP, VERSION, "elsewhere", PLURAL, "checkout")
    assert "status" not in other  # outside --namespace: untouched

    # Argo CD prunes the Rollouts: the controller forgets them, without errors
    assert "shop/checkout" in controller.scheduler.rollouts()
    custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "checkout")
    custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "broken")
    custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "unknown-policy")
    wait_for(lambda: not controller.scheduler.rollouts(), timeout=15, what="the Rollouts forgotten")
    time.sleep(2)
    exposition = controller.metrics.exposition()[0].decode()
    assert "rollout_reconcile_errors_total{" not in exposition
    assert route_weights(read_virtual_service(app)) == {"v2": 100}  # traffic left as it was
    listed = custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
    assert listed["items"] == []  # nothing recreated

    ours = [r for r in apiserver.requests if r.user_agent.startswith("rollout-controller/")]
    assert ours, "the controller's requests carry its User-Agent"
    rollout_writes = [r for r in ours if r.resource == PLURAL and r.method in WRITES]
    assert rollout_writes, "the controller wrote status"
    assert {(r.method, r.subresource) for r in rollout_writes} <= {
        ("PUT", "status"),
        ("PATCH", "status"),
    }, [(r.method, r.path) for r in rollout_writes if r.subresource != "status"]
    assert not [r for r in ours if r.resource == PLURAL and r.namespace == "elsewhere"]
