"""Managed versions' Deployments on the API server: made from a template, scaled.

Inputs: a template Deployment created through the API, a managed rollout spec, and the
``KubeWorkloads`` adapter over the official client. Outputs under test: the version's
Deployment (name, image in the chosen container, ``version`` labels on it, its selector
and its pods, replicas, ownerReference to the Rollout); a second ``ensure`` changes
nothing; scaling goes through the ``scale`` subresource and writes nothing when the count
is already right; a missing template or container is an error naming it; an HPA's target
is read and moved by a patch that changes nothing else, and a move from a target it no
longer has is a conflict.
"""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from rollout.errors import ClusterError, Conflict, NotFound
from rollout.kube.workloads import KubeWorkloads, retarget_patch
from rollout.kubeapi.object_cache import ObjectCache
from rollout.version_ports import Replicas
from tests.e2e import autoscalers
from tests.kube_clients import as_body
from tests.kube_servers import ApiServer, create_namespaces
from tests.rollouts import make_rollout

pytestmark = pytest.mark.cluster

NAMESPACE = "shop"
UID = "6f1c2a52-1d8e-4c47-9d0a-1b2c3d4e5f60"


def template() -> dict[str, Any]:
    labels = {"app": "checkout"}
    containers = [
        {"name": "proxy", "image": "envoy:1"},
        {"name": "app", "image": "shop/checkout:template"},
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout-template", "labels": {"team": "shop"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}},
        },
    }


def managed(**extra: Any) -> dict[str, Any]:
    return {
        "managed": {
            "template": "checkout-template",
            "image": "shop/checkout:{version}",
            "container": "app",
            **extra,
        }
    }


@pytest.fixture
def apps(api_client: kubernetes.client.ApiClient) -> kubernetes.client.AppsV1Api:
    create_namespaces(api_client, NAMESPACE)
    apps = kubernetes.client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(NAMESPACE, as_body(template()))
    return apps


@pytest.fixture
def workloads(api_client: kubernetes.client.ApiClient) -> KubeWorkloads:
    return KubeWorkloads(api_client, ObjectCache("deployments"))  # not started: reads GET


def test_a_version_is_made_from_the_template(
    apps: kubernetes.client.AppsV1Api, workloads: KubeWorkloads
) -> None:
    rollout = make_rollout("v2", workload=managed())
    workloads.ensure(rollout, "v2", owner_uid=UID, replicas=1)
    workloads.ensure(rollout, "v2", owner_uid=UID, replicas=5)  # there already: unchanged
    made = apps.api_client.sanitize_for_serialization(
        apps.read_namespaced_deployment("checkout-v2", NAMESPACE)
    )
    spec, metadata = made["spec"], made["metadata"]
    assert spec["replicas"] == 1
    assert metadata["labels"] == {"team": "shop", "version": "v2"}
    assert spec["selector"]["matchLabels"] == {"app": "checkout", "version": "v2"}
    assert spec["template"]["metadata"]["labels"] == {"app": "checkout", "version": "v2"}
    images = {c["name"]: c["image"] for c in spec["template"]["spec"]["containers"]}
    assert images == {"proxy": "envoy:1", "app": "shop/checkout:v2"}
    [owner] = metadata["ownerReferences"]
    assert owner == {
        "apiVersion": "canary.rollout.dev/v1alpha1",
        "kind": "Rollout",
        "name": "checkout",
        "uid": UID,
        "controller": True,
        "blockOwnerDeletion": False,
    }
    assert workloads.replicas(NAMESPACE, "checkout-v2") == Replicas(wanted=1, ready=0)
    assert workloads.replicas(NAMESPACE, "checkout-v9") is None


def test_scaling_goes_through_the_scale_subresource(
    apps: kubernetes.client.AppsV1Api, workloads: KubeWorkloads, apiserver: ApiServer
) -> None:
    rollout = make_rollout("v2", workload=managed())
    apiserver.clear_requests()  # the template's creation
    workloads.ensure(rollout, "v2", owner_uid=UID, replicas=1)
    workloads.scale(NAMESPACE, "checkout-v2", 3)
    workloads.scale(NAMESPACE, "checkout-v2", 3)  # already 3: nothing written
    workloads.scale(NAMESPACE, "checkout-v2", 0)
    workloads.scale(NAMESPACE, "checkout-v9", 2)  # gone: nothing to scale
    assert apps.read_namespaced_deployment("checkout-v2", NAMESPACE).spec.replicas == 0
    writes = [
        (r.verb, r.subresource)
        for r in apiserver.requests
        if r.resource == "deployments" and r.verb in ("create", "patch", "update")
    ]
    assert writes == [("create", ""), ("patch", "scale"), ("patch", "scale")]


def test_a_missing_template_or_container_is_named(
    apps: kubernetes.client.AppsV1Api, workloads: KubeWorkloads
) -> None:
    with pytest.raises(NotFound, match="template deployment nowhere not found"):
        workloads.ensure(
            make_rollout("v2", workload=managed(template="nowhere")),
            "v2",
            owner_uid=UID,
            replicas=1,
        )
    with pytest.raises(ClusterError, match="has no container 'web'"):
        workloads.ensure(
            make_rollout("v2", workload=managed(container="web")), "v2", owner_uid=UID, replicas=1
        )


def test_an_autoscaler_is_moved_by_a_patch_guarded_by_its_target(
    apps: kubernetes.client.AppsV1Api, workloads: KubeWorkloads
) -> None:
    hpas = kubernetes.client.AutoscalingV2Api(apps.api_client)
    hpas.create_namespaced_horizontal_pod_autoscaler(
        NAMESPACE, as_body(autoscalers.autoscaler("checkout-v1"))
    )
    assert workloads.autoscaler_target(NAMESPACE, "nowhere") is None
    assert workloads.autoscaler_target(NAMESPACE, autoscalers.AUTOSCALER) == "checkout-v1"
    workloads.retarget(
        NAMESPACE, autoscalers.AUTOSCALER, current="checkout-v1", deployment="checkout-v2"
    )
    moved = hpas.read_namespaced_horizontal_pod_autoscaler(autoscalers.AUTOSCALER, NAMESPACE)
    assert moved.spec.scale_target_ref.to_dict() == {
        "api_version": "apps/v1",
        "kind": "Deployment",
        "name": "checkout-v2",
    }
    assert moved.spec.min_replicas == autoscalers.REPLICAS  # the rest untouched
    with pytest.raises(Conflict, match="targets 'checkout-v2', not 'checkout-v1'"):
        workloads.retarget(
            NAMESPACE, autoscalers.AUTOSCALER, current="checkout-v1", deployment="checkout-v3"
        )
    with pytest.raises(NotFound):
        workloads.retarget(NAMESPACE, "nowhere", current="checkout-v1", deployment="checkout-v3")
    stale = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout-v1"}
    with pytest.raises(kubernetes.client.ApiException) as refused:  # the server's own guard
        hpas.patch_namespaced_horizontal_pod_autoscaler(
            autoscalers.AUTOSCALER,
            NAMESPACE,
            retarget_patch(stale, "checkout-v3"),
            _content_type="application/json-patch+json",
        )
    assert refused.value.status == 422
