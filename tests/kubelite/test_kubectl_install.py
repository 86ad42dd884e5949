"""The real ``kubectl`` installs what a user installs against the local API server.

Inputs: ``kubectl apply`` of an install-style manifest (Namespace, ServiceAccount,
ClusterRole and binding, Service, ConfigMap) applied twice, and ``kubectl create`` of
built-in kinds, which kubectl sends as protobuf (the alerts Secret exactly as
docs/alerts.md tells users to create it). Outputs under test: kubectl's lines and exit codes,
and the objects as stored.
"""

from __future__ import annotations

from pathlib import Path

from tests.kube_clients import Kubectl
from tests.kubelite.objects import get_json

INSTALL_MANIFEST = """
apiVersion: v1
kind: Namespace
metadata: {name: rollout-system}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: rollout-controller, namespace: rollout-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: rollout-controller}
rules:
- apiGroups: [networking.istio.io]
  resources: [virtualservices]
  verbs: [get, list, watch, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: rollout-controller}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: rollout-controller}
subjects:
- {kind: ServiceAccount, name: rollout-controller, namespace: rollout-system}
---
apiVersion: v1
kind: Service
metadata: {name: rollout-controller, namespace: rollout-system}
spec:
  selector: {app: rollout-controller}
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: rollout-config, namespace: rollout-system}
data: {interval: 10s}
"""


def test_apply_install_style_manifest(kubectl: Kubectl, tmp_path: Path) -> None:
    path = tmp_path / "install.yaml"
    path.write_text(INSTALL_MANIFEST)
    assert kubectl("apply", "-f", str(path)).stdout.splitlines() == [
        "namespace/rollout-system created",
        "serviceaccount/rollout-controller created",
        "clusterrole.rbac.authorization.k8s.io/rollout-controller created",
        "clusterrolebinding.rbac.authorization.k8s.io/rollout-controller created",
        "service/rollout-controller created",
        "configmap/rollout-config created",
    ]
    assert "unchanged" in kubectl("apply", "-f", str(path)).stdout.splitlines()[-1]
    role = get_json(kubectl, "clusterrole", "rollout-controller")
    assert role["rules"][0]["verbs"] == ["get", "list", "watch", "patch"]
    names = kubectl("get", "sa,svc,cm", "-n", "rollout-system", "-o", "name").stdout.split()
    assert names == [
        "serviceaccount/rollout-controller",
        "service/rollout-controller",
        "configmap/rollout-config",
    ]


def test_kubectl_create_sends_protobuf_for_built_in_kinds(kubectl: Kubectl) -> None:
    """kubectl encodes these as ``application/vnd.kubernetes.protobuf``; docs/alerts.md tells
    users to create the alerts Secret exactly this way."""
    assert kubectl("create", "namespace", "shop").stdout.strip() == "namespace/shop created"
    kubectl(
        "create", "secret", "generic", "rollout-alerts", "-n", "shop",
        "--from-literal=slack-url=https://hooks.example.test/T0",
    )  # fmt: skip
    kubectl("create", "configmap", "settings", "-n", "shop", "--from-literal=interval=10s")
    kubectl("create", "deployment", "web", "-n", "shop", "--image=demo:v1", "--replicas=2")
    kubectl("create", "serviceaccount", "runner", "-n", "shop")
    secret = get_json(kubectl, "secret", "rollout-alerts", "-n", "shop")
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"slack-url": "aHR0cHM6Ly9ob29rcy5leGFtcGxlLnRlc3QvVDA="}
    assert get_json(kubectl, "configmap", "settings", "-n", "shop")["data"] == {"interval": "10s"}
    deployment = get_json(kubectl, "deployment", "web", "-n", "shop")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert (container["name"], container["image"]) == ("demo", "demo:v1")
    namespace = get_json(kubectl, "namespace", "shop")
    assert namespace["status"] == {"phase": "Active"}
    missing = kubectl("create", "configmap", "lost", "-n", "nowhere", check=False)
    assert missing.returncode != 0
    assert missing.stderr == 'error: failed to create configmap: namespaces "nowhere" not found\n'
