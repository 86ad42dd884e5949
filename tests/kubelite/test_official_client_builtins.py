"""The local API server answers the official client's built-in kinds as a cluster would.

Inputs: ``AppsV1Api`` Deployments with their status, ``CoordinationV1Api`` Leases updated
concurrently, ``CoreV1Api`` Events and Secrets, and the server's own request log. Outputs
under test: the fields the server fills, conflicts on stale resourceVersions, and the verbs
the log records.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from kubelite import LocalApiServer
from tests.kube_clients import CustomObjects
from tests.kubelite.objects import GROUP, NAMESPACE, PLURAL, create_vs, status_of, virtual_service


def deployment(name: str) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[
                        client.V1Container(
                            name="app",
                            image="demo:v1",
                            ports=[client.V1ContainerPort(container_port=8080)],
                        )
                    ]
                ),
            ),
        ),
    )


def test_deployments_with_status(api_client: ApiClient) -> None:
    # the answers are read field by field as the server must have filled them, so they are
    # typed Any rather than as the client's models, whose every field is optional
    apps = client.AppsV1Api(api_client)
    created: Any = apps.create_namespaced_deployment(NAMESPACE, deployment("web"))
    assert created.metadata.generation == 1
    ready = {"status": {"replicas": 2, "readyReplicas": 2, "observedGeneration": 1}}
    apps.patch_namespaced_deployment_status("web", NAMESPACE, ready)
    fetched: Any = apps.read_namespaced_deployment_status("web", NAMESPACE)
    assert fetched.status.ready_replicas == 2 and fetched.metadata.generation == 1
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "demo:v2"}]}}}}
    patched: Any = apps.patch_namespaced_deployment("web", NAMESPACE, patch)
    container = patched.spec.template.spec.containers[0]
    assert (container.image, container.ports[0].container_port) == ("demo:v2", 8080)
    assert patched.metadata.generation == 2
    assert patched.status.ready_replicas == 2
    listed: Any = apps.list_namespaced_deployment(NAMESPACE, label_selector="app=web")
    assert [d.metadata.name for d in listed.items] == ["web"]
    deleted: Any = apps.delete_namespaced_deployment("web", NAMESPACE)
    assert deleted["status"] == "Success" and deleted["details"]["kind"] == "deployments"


def test_leases_with_optimistic_concurrency(api_client: ApiClient) -> None:
    coordination = client.CoordinationV1Api(api_client)
    lease = client.V1Lease(
        metadata=client.V1ObjectMeta(name="rollout-controller"),
        spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15),
    )
    created: Any = coordination.create_namespaced_lease(NAMESPACE, lease)  # read as above
    created.spec.holder_identity = "b"
    renewed: Any = coordination.replace_namespaced_lease("rollout-controller", NAMESPACE, created)
    assert renewed.spec.holder_identity == "b"
    assert int(renewed.metadata.resource_version) > int(created.metadata.resource_version)
    created.spec.holder_identity = "c"
    with pytest.raises(ApiException) as raised:
        coordination.replace_namespaced_lease("rollout-controller", NAMESPACE, created)
    assert raised.value.status == 409
    assert status_of(raised.value)["message"].startswith(
        'Operation cannot be fulfilled on leases.coordination.k8s.io "rollout-controller"'
    )


def test_events_and_secrets(api_client: ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name="reviews."),
        involved_object=client.V1ObjectReference(
            kind="Rollout", name="reviews", namespace=NAMESPACE
        ),
        reason="Promoted",
        message="canary promoted",
        type="Normal",
    )
    created: Any = core.create_namespaced_event(NAMESPACE, event)  # read as above
    assert created.metadata.name.startswith("reviews.")
    found = core.list_namespaced_event(
        NAMESPACE, field_selector="involvedObject.name=reviews,reason=Promoted"
    )
    assert [e.metadata.name for e in found.items] == [created.metadata.name]
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="token"), string_data={"k": "v"}, type="Opaque"
    )
    core.create_namespaced_secret(NAMESPACE, secret)
    assert core.read_namespaced_secret("token", NAMESPACE).type == "Opaque"
    gone: Any = core.delete_namespaced_secret("token", NAMESPACE)
    assert gone["status"] == "Success" and gone["details"]["name"] == "token"
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_secret("token", NAMESPACE)
    assert status_of(raised.value)["message"] == 'secrets "token" not found'


def test_request_log_records_verbs(apiserver: LocalApiServer, custom: CustomObjects) -> None:
    apiserver.clear_requests()
    create_vs(custom, virtual_service("reviews"))
    custom.patch_namespaced_custom_object_status(
        GROUP, "v1", NAMESPACE, PLURAL, "reviews", {"status": {}}
    )
    custom.list_cluster_custom_object(GROUP, "v1", PLURAL)
    seen = [(r.verb, r.resource, r.namespace, r.subresource, r.code) for r in apiserver.requests]
    assert seen == [
        ("create", PLURAL, NAMESPACE, "", 201),
        ("patch", PLURAL, NAMESPACE, "status", 200),
        ("list", PLURAL, "", "", 200),
    ]
    apiserver.clear_requests()
    assert apiserver.requests == []
