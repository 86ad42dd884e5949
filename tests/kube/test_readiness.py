"""Deployment readiness against the local API server.

Inputs: Deployments created through the API, their status written through the status
subresource as the Deployment controller would. Outputs: ``Readiness(ready, message)`` for
a missing Deployment, one still progressing, one available, one whose status describes an
older generation, and the coordinator-facing ``DeploymentReadiness`` probe.
"""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from rollout.kube.readiness import DeploymentReadiness, deployment_readiness, readiness_of
from rollout.ports import Readiness
from tests.kube_clients import as_body
from tests.kube_servers import create_namespaces

NAMESPACE = "shop"


def deployment(name: str, replicas: int | None = 3) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "checkout", "version": name}},
        "template": {
            "metadata": {"labels": {"app": "checkout", "version": name}},
            "spec": {"containers": [{"name": "app", "image": f"shop/checkout:{name}"}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


@pytest.fixture
def apps(api_client: kubernetes.client.ApiClient) -> kubernetes.client.AppsV1Api:
    create_namespaces(api_client, NAMESPACE)
    return kubernetes.client.AppsV1Api(api_client)


def write_status(
    apps: kubernetes.client.AppsV1Api,
    name: str,
    *,
    observed: int,
    updated: int,
    available: int,
    ready: int,
    replicas: int = 3,
) -> None:
    body = {
        "status": {
            "observedGeneration": observed,
            "replicas": replicas,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "readyReplicas": ready,
        },
    }
    apps.patch_namespaced_deployment_status(name, NAMESPACE, body)


def test_a_missing_deployment_is_not_ready(api_client: kubernetes.client.ApiClient) -> None:
    found = deployment_readiness(api_client, NAMESPACE, "checkout-v2")
    assert found == Readiness(False, "deployment checkout-v2 not found in namespace shop")


def test_progressing_then_available(
    api_client: kubernetes.client.ApiClient, apps: kubernetes.client.AppsV1Api
) -> None:
    apps.create_namespaced_deployment(NAMESPACE, as_body(deployment("checkout-v2")))
    assert deployment_readiness(api_client, NAMESPACE, "checkout-v2") == Readiness(
        False,
        "deployment checkout-v2: waiting for the deployment controller to observe "
        "generation 1 (observed 0)",
    )
    write_status(apps, "checkout-v2", observed=1, updated=1, available=0, ready=0)
    assert deployment_readiness(api_client, NAMESPACE, "checkout-v2") == Readiness(
        False, "deployment checkout-v2: 1/3 replicas updated"
    )
    write_status(apps, "checkout-v2", observed=1, updated=3, available=2, ready=2)
    assert deployment_readiness(api_client, NAMESPACE, "checkout-v2") == Readiness(
        False, "deployment checkout-v2: 2/3 replicas available"
    )
    write_status(apps, "checkout-v2", observed=1, updated=3, available=3, ready=3)
    assert deployment_readiness(api_client, NAMESPACE, "checkout-v2") == Readiness(
        True, "deployment checkout-v2: 3/3 replicas available"
    )
    probe = DeploymentReadiness(api_client)
    assert probe.readiness(NAMESPACE, "checkout-v2") == Readiness(
        True, "deployment checkout-v2: 3/3 replicas available"
    )


def test_a_status_of_an_older_generation_is_not_ready(
    api_client: kubernetes.client.ApiClient, apps: kubernetes.client.AppsV1Api
) -> None:
    created = apps.create_namespaced_deployment(NAMESPACE, as_body(deployment("checkout-v2")))
    write_status(apps, "checkout-v2", observed=1, updated=3, available=3, ready=3)
    assert deployment_readiness(api_client, NAMESPACE, "checkout-v2").ready
    assert created.metadata and created.metadata.generation == 1

    apps.patch_namespaced_deployment(
        "checkout-v2",
        NAMESPACE,
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "app", "image": "shop/checkout:v2.1"}]}
                }
            }
        },
    )

    updated = apps.read_namespaced_deployment("checkout-v2", NAMESPACE)
    assert updated.metadata and updated.metadata.generation == 2
    assert deployment_readiness(api_client, NAMESPACE, "checkout-v2") == Readiness(
        False,
        "deployment checkout-v2: waiting for the deployment controller to observe "
        "generation 2 (observed 1)",
    )


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        (
            {},
            {
                "observedGeneration": 1,
                "updatedReplicas": 1,
                "availableReplicas": 1,
                "readyReplicas": 1,
            },
            Readiness(True, "deployment d: 1/1 replicas available"),
        ),
        (
            {"replicas": 2},
            {
                "observedGeneration": 1,
                "updatedReplicas": 2,
                "availableReplicas": 2,
                "readyReplicas": 1,
            },
            Readiness(False, "deployment d: 1/2 replicas ready"),
        ),
        (
            {"replicas": 0},
            {"observedGeneration": 1},
            Readiness(False, "deployment d is scaled to 0 replicas"),
        ),
        (
            {"replicas": 1},
            {
                "observedGeneration": 1,
                "conditions": [
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": 'ReplicaSet "d-5d4" has timed out progressing.',
                    }
                ],
            },
            Readiness(False, 'deployment d: ReplicaSet "d-5d4" has timed out progressing.'),
        ),
    ],
    ids=["replicas-default-to-1", "not-all-ready", "scaled-to-zero", "deadline-exceeded"],
)
def test_readiness_of_a_deployment_body(
    spec: dict[str, Any], status: dict[str, Any], expected: Readiness
) -> None:
    body = {"metadata": {"name": "d", "generation": 1}, "spec": spec, "status": status}
    assert readiness_of(body) == expected
