"""``manifests/`` builds with the real ``kubectl kustomize`` and applies to an API server.

Inputs: the manifests directory, the optional ServiceMonitor and shards components, the
CLI's options.
Outputs under test: the kinds built, the Deployment's hardening and wiring (probes,
identity, emptyDirs, Secrets), every setting in the ConfigMap being one ``rollout run``
reads, the Service port, and the real ``kubectl apply -f`` creating everything on the
local API server and finding it unchanged on a second apply.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollout.cli.controller_commands import run as run_command
from rollout.shards import lease_name
from tests.kube_clients import Kubectl, kustomize
from tests.manifests.layout import MANIFESTS

EXPECTED = {
    ("CustomResourceDefinition", "rollouts.canary.rollout.dev"),
    ("Namespace", "rollout-system"),
    ("ServiceAccount", "rollout-controller"),
    ("ClusterRole", "rollout-controller"),
    ("ClusterRoleBinding", "rollout-controller"),
    ("Role", "rollout-controller-leader-election"),
    ("RoleBinding", "rollout-controller-leader-election"),
    ("ConfigMap", "rollout-controller-config"),
    ("Secret", "rollout-git-credentials"),
    ("Secret", "rollout-git-ssh"),
    ("Secret", "rollout-hook"),
    ("Deployment", "rollout-controller"),
    ("Service", "rollout-controller"),
}


def find(built: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in built if d["kind"] == kind and d["metadata"]["name"] == name)


def cli_env_vars() -> set[str]:
    """Every environment variable ``rollout run`` reads through its options."""
    return {str(p.envvar) for p in run_command.params if getattr(p, "envvar", None)}


def test_builds_every_object_and_nothing_else(built: list[dict[str, Any]]) -> None:
    assert {(d["kind"], d["metadata"]["name"]) for d in built} == EXPECTED
    namespaced = [d for d in built if d["kind"] not in ("CustomResourceDefinition", "Namespace")]
    for doc in namespaced:
        if doc["kind"].startswith("Cluster"):
            continue
        assert doc["metadata"]["namespace"] == "rollout-system", doc["metadata"]["name"]


def test_the_crd_is_the_generated_one(built: list[dict[str, Any]]) -> None:
    generated = yaml.safe_load((MANIFESTS / "crd.yaml").read_text())
    assert find(built, "CustomResourceDefinition", "rollouts.canary.rollout.dev") == generated


def test_deployment_is_hardened_and_wired(built: list[dict[str, Any]]) -> None:
    deployment = find(built, "Deployment", "rollout-controller")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "rollout-controller"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]) == {"requests", "limits"}
    env = {item["name"]: item for item in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["ROLLOUT_IDENTITY"]["value"] == "$(POD_NAME)"
    assert env["ROLLOUT_LEASE_NAMESPACE"]["value"] == "$(POD_NAMESPACE)"
    for name, secret in (
        ("ROLLOUT_GIT_TOKEN", "rollout-git-credentials"),
        ("ROLLOUT_HOOK_SECRET", "rollout-hook"),
    ):
        reference = env[name]["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret
        find(built, "Secret", secret)  # the Secret it names is built too
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    config = find(built, "ConfigMap", "rollout-controller-config")["data"]
    assert "emptyDir" in volumes[mounts[config["ROLLOUT_CACHE_DIR"]]]
    assert config["ROLLOUT_LISTEN"].endswith(":8080")
    (port,) = container["ports"]
    assert port["containerPort"] == 8080


def test_config_holds_only_settings_the_controller_reads(built: list[dict[str, Any]]) -> None:
    config = find(built, "ConfigMap", "rollout-controller-config")["data"]
    known = cli_env_vars() | {"ROLLOUT_GIT_SSH_KEY", "ROLLOUT_GIT_KNOWN_HOSTS"}
    assert set(config) <= known
    for needed in (
        "ROLLOUT_GIT_URL",
        "ROLLOUT_GIT_BRANCH",
        "ROLLOUT_GIT_PATH",
        "ROLLOUT_PROMETHEUS_URL",
        "ROLLOUT_POLL_INTERVAL",
        "ROLLOUT_LOG_FORMAT",
    ):
        assert needed in config
    lease_role = find(built, "Role", "rollout-controller-leader-election")
    assert {tuple(r.get("resourceNames", ())) for r in lease_role["rules"]} >= {
        (config["ROLLOUT_LEASE_NAME"],)
    }


def test_service_reaches_the_controller_port(built: list[dict[str, Any]]) -> None:
    service = find(built, "Service", "rollout-controller")
    deployment = find(built, "Deployment", "rollout-controller")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["port"] == 8080 and port["targetPort"] == "http"


def with_component(tmp_path: Path, component: str) -> list[dict[str, Any]]:
    """What an overlay of ``manifests/`` with ``optional/<component>`` builds."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                # kustomize takes only relative roots
                "resources": [os.path.relpath(MANIFESTS, overlay)],
                "components": [os.path.relpath(MANIFESTS / "optional" / component, overlay)],
            }
        )
    )
    return [d for d in yaml.safe_load_all(kustomize(overlay)) if d]


def test_servicemonitor_is_an_opt_in_component(tmp_path: Path) -> None:
    docs = with_component(tmp_path, "servicemonitor")
    (monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
    service = find(docs, "Service", "rollout-controller")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert len(docs) == len(EXPECTED) + 1


def test_the_shards_component_runs_three_replicas_over_their_leases(
    tmp_path: Path, built: list[dict[str, Any]]
) -> None:
    docs = with_component(tmp_path, "shards")
    assert not [d for d in docs if d["kind"] == "Deployment"]
    replicas = find(docs, "StatefulSet", "rollout-controller")
    config = find(docs, "ConfigMap", "rollout-controller-config")["data"]
    shards, count = int(config["ROLLOUT_SHARDS"]), int(config["ROLLOUT_REPLICAS"])
    assert (shards, count) == (6, 3)
    assert replicas["spec"]["replicas"] == count
    # the same pod as the Deployment's: the two files cannot drift apart
    deployment = find(built, "Deployment", "rollout-controller")
    assert replicas["spec"]["template"] == deployment["spec"]["template"]
    role = find(docs, "Role", "rollout-controller-leader-election")
    renewed = next(r for r in role["rules"] if "update" in r["verbs"])
    base = config["ROLLOUT_LEASE_NAME"]
    assert renewed["resourceNames"] == [lease_name(base, i, shards) for i in range(shards)]


@pytest.mark.cluster
def test_kubectl_applies_the_build(
    kubectl: Kubectl, built_yaml: str, built: list[dict[str, Any]]
) -> None:
    first = kubectl("apply", "-f", "-", stdin=built_yaml)
    assert first.stdout.count(" created") == len(EXPECTED), first.stdout
    second = kubectl("apply", "-f", "-", stdin=built_yaml)
    # the server turns a Secret's stringData into data, so kubectl always finds those changed
    rewritten = {f"secret/{doc['metadata']['name']}" for doc in built if "stringData" in doc}
    for line in second.stdout.splitlines():
        name, outcome = line.rsplit(" ", 1)
        assert outcome == ("configured" if name in rewritten else "unchanged"), line
    assert len(second.stdout.splitlines()) == len(EXPECTED)
    shown = kubectl("get", "deployment", "rollout-controller", "-n", "rollout-system", "-o", "yaml")
    stored = yaml.safe_load(shown.stdout)
    assert stored["spec"]["replicas"] == 2
    roles = kubectl("get", "clusterrole", "rollout-controller", "-o", "yaml")
    rules = yaml.safe_load(roles.stdout)["rules"]
    deployments = {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": ["list", "watch", "create"],
    }
    assert deployments in rules


def test_install_doc_lists_every_setting(repo_root: Path) -> None:
    text = (repo_root / "docs" / "install.md").read_text()
    prometheus = {
        f"ROLLOUT_PROMETHEUS_{name}"
        for name in ("BEARER_TOKEN", "BEARER_TOKEN_FILE", "USERNAME", "PASSWORD", "CA_FILE")
    }
    credentials = {
        "ROLLOUT_GIT_TOKEN",
        "ROLLOUT_GIT_USERNAME",
        "ROLLOUT_GIT_SSH_KEY",
        "ROLLOUT_GIT_KNOWN_HOSTS",
        "ROLLOUT_HOOK_SECRET",
    }
    missing = sorted(
        name for name in cli_env_vars() | prometheus | credentials if f"`{name}`" not in text
    )
    assert missing == []
