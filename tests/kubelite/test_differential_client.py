"""The stand-in answers the official client as the real kube-apiserver does.

Inputs: the same official-client calls, run once against a fresh stand-in
(:class:`kubelite.LocalApiServer`) and once against the real etcd + kube-apiserver reset to
a fresh cluster (the ``twins`` fixture). Outputs under test: the two transcripts are equal:
the status codes, ``Status`` reasons and messages, and the objects returned, blanked of
what differs between any two runs of one server (``tests/kubelite/transcripts.py``).

The scenarios: a custom resource's life (not-found and conflict errors, the three patch
types, the status subresource), built-in kinds, a custom kind from a CRD, and the scale
subresource with a HorizontalPodAutoscaler retargeted.
"""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes

from tests.kube_clients import custom_objects
from tests.kube_servers import install_crd, wait_for_crd
from tests.kubelite.objects import WIDGET_CRD
from tests.kubelite.transcripts import (
    VIRTUAL_SERVICE,
    Transcript,
    assert_same,
    client_call,
    client_transcripts,
    kubectl_transcripts,
)

GROUP, PLURAL = "networking.istio.io", "virtualservices"


def custom_resource_life(api: kubernetes.client.ApiClient) -> Transcript:
    custom = custom_objects(api)
    body = json.loads(json.dumps(VIRTUAL_SERVICE))
    steps = [
        client_call(custom.create_namespaced_custom_object, GROUP, "v1", "default", PLURAL, body),
        client_call(custom.create_namespaced_custom_object, GROUP, "v1", "default", PLURAL, body),
        client_call(custom.get_namespaced_custom_object, GROUP, "v1", "default", PLURAL, "nope"),
    ]
    current = custom.get_namespaced_custom_object(GROUP, "v1", "default", PLURAL, "reviews")
    stale = json.loads(json.dumps(current))
    current["spec"]["gateways"] = ["mesh"]
    steps.append(
        client_call(
            custom.replace_namespaced_custom_object, GROUP, "v1", "default", PLURAL, "reviews",
            current,
        )
    )  # fmt: skip
    stale["spec"]["hosts"] = ["other"]
    steps.append(
        client_call(
            custom.replace_namespaced_custom_object, GROUP, "v1", "default", PLURAL, "reviews",
            stale,
        )
    )  # fmt: skip
    operations = [{"op": "replace", "path": "/spec/hosts/0", "value": "x"}]
    steps.append(
        client_call(
            custom.patch_namespaced_custom_object, GROUP, "v1", "default", PLURAL, "reviews",
            operations,
        )
    )  # fmt: skip
    steps.append(
        client_call(
            custom.patch_namespaced_custom_object_status, GROUP, "v1", "default", PLURAL,
            "reviews", {"status": {"observedGeneration": 2}},
        )
    )  # fmt: skip
    steps.append(
        client_call(
            custom.delete_namespaced_custom_object, GROUP, "v1", "default", PLURAL, "reviews"
        )
    )
    steps.append(
        client_call(
            custom.delete_namespaced_custom_object, GROUP, "v1", "default", PLURAL, "reviews"
        )
    )
    return steps


def test_custom_resource_life(twins: dict[str, Path]) -> None:
    assert_same(client_transcripts(twins, custom_resource_life))


def built_in_life(api: kubernetes.client.ApiClient) -> Transcript:
    core = kubernetes.client.CoreV1Api(api)
    coordination = kubernetes.client.CoordinationV1Api(api)
    lease = {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "a"}}
    steps = [
        client_call(core.create_namespace, {"metadata": {"name": "shop"}}),
        client_call(
            core.create_namespaced_secret,
            "shop",
            {"metadata": {"name": "alerts"}, "stringData": {"url": "https://x.test"}},
        ),
        client_call(core.read_namespaced_secret, "alerts", "shop"),
        client_call(core.create_namespaced_config_map, "gone", {"metadata": {"name": "c"}}),
        client_call(coordination.create_namespaced_lease, "shop", lease),
    ]
    current = coordination.read_namespaced_lease("leader", "shop")
    assert current.spec is not None
    current.spec.holder_identity = "b"
    steps.append(client_call(coordination.replace_namespaced_lease, "leader", "shop", current))
    steps.append(client_call(coordination.replace_namespaced_lease, "leader", "shop", current))
    steps.append(client_call(core.delete_namespaced_secret, "alerts", "shop"))
    steps.append(client_call(core.read_namespaced_secret, "alerts", "shop"))
    return steps


def test_built_in_kinds_life(twins: dict[str, Path]) -> None:
    assert_same(client_transcripts(twins, built_in_life))


def custom_kind_life(api: kubernetes.client.ApiClient) -> Transcript:
    install_crd(api, json.loads(json.dumps(WIDGET_CRD)))
    wait_for_crd(api, "widgets.example.test")
    custom = kubernetes.client.CustomObjectsApi(api)
    widget = {"apiVersion": "example.test/v1", "kind": "Widget", "metadata": {"name": "w"}}
    return [
        client_call(custom.create_namespaced_custom_object, "example.test", "v1", "default",
                    "widgets", {**widget, "spec": {"size": 3}}),
        client_call(custom.list_namespaced_custom_object, "example.test", "v1", "default",
                    "widgets"),
        client_call(custom.create_namespaced_custom_object, "example.test", "v1", "nowhere",
                    "widgets", widget),
    ]  # fmt: skip


def test_custom_kind_life(twins: dict[str, Path]) -> None:
    assert_same(client_transcripts(twins, custom_kind_life))


def scaling_life(api: kubernetes.client.ApiClient) -> Transcript:
    apps, hpa = kubernetes.client.AppsV1Api(api), kubernetes.client.AutoscalingV2Api(api)
    labels = {"app": "web", "version": "v1"}
    pod = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "a:1"}]}}
    spec = {"replicas": 2, "selector": {"matchLabels": labels}, "template": pod}
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-v1"}
    cpu = {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}
    metrics = [{"type": "Resource", "resource": cpu}]
    autoscaler = {"metadata": {"name": "web"}, "spec": {"scaleTargetRef": target,
                  "minReplicas": 1, "maxReplicas": 5, "metrics": metrics}}  # fmt: skip
    steps = [
        client_call(apps.create_namespaced_deployment, "default",
                    {"metadata": {"name": "web-v1"}, "spec": spec}),
        client_call(apps.read_namespaced_deployment_scale, "web-v1", "default"),
        client_call(apps.patch_namespaced_deployment_scale, "web-v1", "default",
                    {"spec": {"replicas": 3}}),
        client_call(apps.patch_namespaced_deployment_scale, "web-v1", "default",
                    {"spec": {"replicas": 0}}),
        client_call(apps.patch_namespaced_deployment_scale, "web-v1", "default",
                    {"spec": {"replicas": -1}}),
        client_call(apps.replace_namespaced_deployment_scale, "web-v1", "default",
                    {"metadata": {"name": "web-v1", "resourceVersion": "1"},
                     "spec": {"replicas": 4}}),
        client_call(apps.read_namespaced_deployment_scale, "nope", "default"),
        client_call(hpa.create_namespaced_horizontal_pod_autoscaler, "default", autoscaler),
        client_call(hpa.patch_namespaced_horizontal_pod_autoscaler, "web", "default",
                    {"spec": {"scaleTargetRef": {**target, "name": "web-v2"}}}),
    ]  # fmt: skip
    deployment = apps.read_namespaced_deployment("web-v1", "default")
    assert deployment.metadata is not None and deployment.spec is not None
    steps.append(
        {"generation": deployment.metadata.generation, "replicas": deployment.spec.replicas}
    )
    return steps


def test_scaling_life(twins: dict[str, Path], tmp_path: Path) -> None:
    transcripts = client_transcripts(twins, scaling_life)
    transcripts_kubectl = kubectl_transcripts(
        twins, tmp_path, [("scale", "deployment", "web-v1", "--replicas=2"),
                          ("get", "hpa", "web", "-o", "json")]
    )  # fmt: skip
    assert transcripts["stand-in"][2]["body"]["spec"] == {"replicas": 3}
    assert_same({name: transcripts[name] + transcripts_kubectl[name] for name in transcripts})
