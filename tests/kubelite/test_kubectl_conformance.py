"""The real ``kubectl`` (1.37) works against the local API server.

Inputs: kubectl commands run with ``--kubeconfig`` pointing at a fresh server: ``apply``
of a CRD, custom resources and a Deployment (and re-apply of changed files), ``get`` with
tables, JSON, short names and ``-w``, the three kinds of ``patch``, ``replace`` with a stale
resourceVersion, ``delete`` and ``api-resources``. Outputs under test: kubectl's exit codes
and the text it prints, and the objects as stored afterwards.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube_clients import Kubectl
from tests.kubelite.objects import WIDGET_CRD, get_json

VIRTUAL_SERVICE: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "reviews", "namespace": "default"},
    "spec": {
        "hosts": ["reviews"],
        "http": [
            {
                "route": [
                    {"destination": {"host": "reviews", "subset": "stable"}, "weight": 100},
                    {"destination": {"host": "reviews", "subset": "canary"}, "weight": 0},
                ]
            }
        ],
    },
}
DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "app", "image": "demo:v1", "ports": [{"containerPort": 8080}]}
                ]
            },
        },
    },
}
ROLLOUT_CRD_YAML = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: rollouts.canary.rollout.dev
spec:
  group: canary.rollout.dev
  scope: Namespaced
  names: {kind: Rollout, plural: rollouts, singular: rollout, shortNames: [ro]}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    additionalPrinterColumns:
    - {name: Phase, type: string, jsonPath: .status.phase}
    - {name: Canary, type: integer, jsonPath: .status.canaryWeight}
"""


def write_manifest(path: Path, *documents: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


@pytest.fixture
def applied(kubectl: Kubectl, tmp_path: Path) -> Path:
    """The widget CRD, the VirtualService and the Deployment applied; returns the folder."""
    kubectl("apply", "-f", str(write_manifest(tmp_path / "crd.yaml", WIDGET_CRD)))
    kubectl("apply", "-f", str(write_manifest(tmp_path / "vs.yaml", VIRTUAL_SERVICE)))
    kubectl("apply", "-f", str(write_manifest(tmp_path / "deploy.yaml", DEPLOYMENT)))
    return tmp_path


def test_apply_creates_then_configures_changed_files(kubectl: Kubectl, tmp_path: Path) -> None:
    crd = kubectl("apply", "-f", str(write_manifest(tmp_path / "crd.yaml", WIDGET_CRD)))
    assert crd.stdout.strip() == (
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.test created"
    )
    manifest = write_manifest(tmp_path / "app.yaml", VIRTUAL_SERVICE, DEPLOYMENT)
    assert kubectl("apply", "-f", str(manifest)).stdout.splitlines() == [
        "virtualservice.networking.istio.io/reviews created",
        "deployment.apps/web created",
    ]
    assert kubectl("apply", "-f", str(manifest)).stdout.splitlines() == [
        "virtualservice.networking.istio.io/reviews unchanged",
        "deployment.apps/web unchanged",
    ]
    changed_vs = json.loads(json.dumps(VIRTUAL_SERVICE))
    changed_vs["spec"]["http"][0]["route"][0]["weight"] = 80
    changed_vs["spec"]["http"][0]["route"][1]["weight"] = 20
    changed_deploy = json.loads(json.dumps(DEPLOYMENT))
    changed_deploy["spec"]["template"]["spec"]["containers"][0]["image"] = "demo:v2"
    write_manifest(manifest, changed_vs, changed_deploy)
    assert kubectl("apply", "-f", str(manifest)).stdout.splitlines() == [
        "virtualservice.networking.istio.io/reviews configured",
        "deployment.apps/web configured",
    ]
    vs = get_json(kubectl, "virtualservice", "reviews")
    assert [r["weight"] for r in vs["spec"]["http"][0]["route"]] == [80, 20]
    assert vs["metadata"]["generation"] == 2
    last_applied = json.loads(
        vs["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert last_applied["spec"] == changed_vs["spec"]
    deploy = get_json(kubectl, "deployment", "web")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "demo:v2"
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]  # defaulted
    assert deploy["metadata"]["generation"] == 2


def test_get_lists_tables_and_short_names(kubectl: Kubectl, applied: Path) -> None:
    listed = get_json(kubectl, "virtualservices")
    assert listed["kind"] == "List"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["reviews"]
    table = kubectl("get", "vs").stdout.splitlines()
    assert table[0].split() == ["NAME", "GATEWAYS", "HOSTS", "AGE"]
    assert table[1].split()[:2] == ["reviews", '["reviews"]']
    deployments = kubectl("get", "deploy").stdout.splitlines()
    assert deployments[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deployments[1].split()[:4] == ["web", "0/2", "0", "0"]
    assert kubectl("get", "dr").stderr.strip() == "No resources found in default namespace."
    everywhere = kubectl("get", "vs", "-A", "-o", "name").stdout.split()
    assert everywhere == ["virtualservice.networking.istio.io/reviews"]
    by_version = get_json(kubectl, "virtualservices.v1beta1.networking.istio.io", "reviews")
    assert by_version["apiVersion"] == "networking.istio.io/v1beta1"


def test_get_custom_kind_after_its_crd_is_applied(kubectl: Kubectl, tmp_path: Path) -> None:
    missing = kubectl("get", "rollouts", check=False)
    assert missing.returncode != 0
    assert 'the server doesn\'t have a resource type "rollouts"' in missing.stderr
    crd_path = tmp_path / "rollout-crd.yaml"
    crd_path.write_text(ROLLOUT_CRD_YAML)
    kubectl("apply", "-f", str(crd_path))
    kubectl("wait", "--for=condition=Established", "crd/rollouts.canary.rollout.dev")
    assert kubectl("get", "rollouts").stderr.strip() == "No resources found in default namespace."
    rollout = {
        "apiVersion": "canary.rollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout"},
        "spec": {"service": "checkout", "version": "v2"},
    }
    kubectl("apply", "-f", str(write_manifest(tmp_path / "rollout.yaml", rollout)))
    kubectl(
        "patch", "rollout", "checkout", "--subresource=status", "--type=merge",
        "-p", '{"status": {"phase": "Progressing", "canaryWeight": 20}}',
    )  # fmt: skip
    rows = kubectl("get", "ro").stdout.splitlines()
    assert rows[0].split() == ["NAME", "PHASE", "CANARY", "AGE"]
    assert rows[1].split()[:3] == ["checkout", "Progressing", "20"]


def test_watch_prints_changes(kubectl: Kubectl, kubectl_command: list[str], applied: Path) -> None:
    watcher = subprocess.Popen(
        [*kubectl_command, "get", "vs", "-w", "--output-watch-events"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read_lines() -> None:
        for line in watcher.stdout or ():
            lines.put(line)

    reader = threading.Thread(target=read_lines)
    reader.start()

    def next_words() -> list[str]:
        return lines.get(timeout=15).split()

    try:
        assert next_words() == ["EVENT", "NAME", "GATEWAYS", "HOSTS", "AGE"]
        assert next_words()[:2] == ["ADDED", "reviews"]
        kubectl("patch", "vs", "reviews", "--type=merge", "-p", '{"spec":{"gateways":["mesh"]}}')
        assert next_words()[:3] == ["MODIFIED", "reviews", '["mesh"]']
        kubectl("delete", "vs", "reviews")
        assert next_words()[:2] == ["DELETED", "reviews"]
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
        reader.join(timeout=10)
        if watcher.stderr is not None:
            watcher.stderr.close()


def test_plain_watch_prints_rows(
    kubectl: Kubectl, kubectl_command: list[str], applied: Path
) -> None:
    watcher = subprocess.Popen(
        [*kubectl_command, "get", "deploy", "web", "-w", "-o", "name"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().strip() == "deployment.apps/web"
        started = time.monotonic()
        kubectl("patch", "deploy", "web", "-p", '{"spec":{"replicas":3}}')
        assert watcher.stdout.readline().strip() == "deployment.apps/web"
        assert time.monotonic() - started < 10
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
        if watcher.stdout is not None:
            watcher.stdout.close()
    assert get_json(kubectl, "deploy", "web")["spec"]["replicas"] == 3


def test_json_patch_with_test_op(kubectl: Kubectl, applied: Path) -> None:
    operations = json.dumps(
        [
            {"op": "test", "path": "/spec/http/0/route/0/weight", "value": 100},
            {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 95},
            {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 5},
        ]
    )
    patched = kubectl("patch", "vs", "reviews", "--type=json", "-p", operations)
    assert patched.stdout.strip() == "virtualservice.networking.istio.io/reviews patched"
    failed = kubectl("patch", "vs", "reviews", "--type=json", "-p", operations, check=False)
    assert failed.returncode != 0
    assert failed.stderr == (
        "The request is invalid: the server rejected our request due to an error in our request\n"
    )
    vs = get_json(kubectl, "vs", "reviews")
    assert [r["weight"] for r in vs["spec"]["http"][0]["route"]] == [95, 5]


def test_merge_and_strategic_patches(kubectl: Kubectl, applied: Path) -> None:
    kubectl("patch", "vs", "reviews", "--type=merge", "-p", '{"metadata":{"labels":{"t":"a"}}}')
    assert get_json(kubectl, "vs", "reviews")["metadata"]["labels"] == {"t": "a"}
    refused = kubectl(
        "patch", "vs", "reviews", "-p", '{"metadata":{"labels":{"t":"b"}}}', check=False
    )
    assert refused.returncode != 0
    assert "application/strategic-merge-patch+json is not supported" in refused.stderr
    container_patch = (
        '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"demo:v3"}]}}}}'
    )
    kubectl("patch", "deployment", "web", "-p", container_patch)
    container = get_json(kubectl, "deploy", "web")["spec"]["template"]["spec"]["containers"]
    assert container == [
        {
            "name": "app",
            "image": "demo:v3",
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "imagePullPolicy": "IfNotPresent",
            "resources": {},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }
    ]


def test_replace_with_stale_resource_version_conflicts(
    kubectl: Kubectl, applied: Path, tmp_path: Path
) -> None:
    stale = get_json(kubectl, "vs", "reviews")
    kubectl("patch", "vs", "reviews", "--type=merge", "-p", '{"spec":{"gateways":["mesh"]}}')
    stale["spec"]["hosts"] = ["changed"]
    path = tmp_path / "stale.json"
    path.write_text(json.dumps(stale))
    result = kubectl("replace", "-f", str(path), check=False)
    assert result.returncode != 0
    assert (
        'Operation cannot be fulfilled on virtualservices.networking.istio.io "reviews": '
        "the object has been modified; please apply your changes to the latest version"
    ) in result.stderr
    fresh = get_json(kubectl, "vs", "reviews")
    fresh["spec"]["hosts"] = ["changed"]
    path.write_text(json.dumps(fresh))
    replaced = kubectl("replace", "-f", str(path))
    assert replaced.stdout.strip() == "virtualservice.networking.istio.io/reviews replaced"


def test_delete(kubectl: Kubectl, applied: Path) -> None:
    assert kubectl("delete", "vs", "reviews").stdout.strip() == (
        'virtualservice.networking.istio.io "reviews" deleted from default namespace'
    )
    assert kubectl("delete", "deploy", "web").stdout.strip() == (
        'deployment.apps "web" deleted from default namespace'
    )
    missing = kubectl("get", "vs", "reviews", check=False)
    assert missing.returncode != 0
    assert (
        'Error from server (NotFound): virtualservices.networking.istio.io "reviews" not found'
        in missing.stderr
    )


def test_api_resources(kubectl: Kubectl, applied: Path) -> None:
    names = kubectl("api-resources", "-o", "name").stdout.split()
    for expected in (
        "deployments.apps",
        "leases.coordination.k8s.io",
        "events",
        "secrets",
        "namespaces",
        "virtualservices.networking.istio.io",
        "destinationrules.networking.istio.io",
        "widgets.example.test",
        "customresourcedefinitions.apiextensions.k8s.io",
        "roles.rbac.authorization.k8s.io",
    ):
        assert expected in names
    istio = kubectl("api-resources", "--api-group=networking.istio.io").stdout.splitlines()
    assert istio[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert sorted(line.split()[:2] for line in istio[1:]) == [
        ["destinationrules", "dr"],
        ["virtualservices", "vs"],
    ]
