"""Building an ApiClient from a kubeconfig (path and context) or in-cluster configuration.

Inputs: kubeconfig files written for the local API server (one with a second context that
points nowhere), a missing file, no configuration at all, and an in-cluster request
outside a pod. Outputs: a client that lists namespaces on the server, or a one-line
ClusterError saying what is missing.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest
import yaml

from kubelite import LocalApiServer, write_kubeconfig
from rollout.errors import ClusterError
from rollout.kubeapi.client import api_client


def namespaces(client: kubernetes.client.ApiClient) -> set[str]:
    listed = kubernetes.client.CoreV1Api(client).list_namespace(_request_timeout=(2, 5))
    return {str(item.metadata.name) for item in listed.items if item.metadata}


def test_a_client_from_a_kubeconfig_path(kubeconfig: Path) -> None:
    client = api_client(kubeconfig=kubeconfig)
    try:
        assert {"default", "kube-system"} <= namespaces(client)
    finally:
        client.close()


def test_a_context_is_chosen_by_name(apiserver: LocalApiServer, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kubeconfig", server_url=apiserver.url, context="local")
    document = yaml.safe_load(path.read_text())
    document["clusters"].append({"name": "far", "cluster": {"server": "http://127.0.0.1:9"}})
    document["users"].append({"name": "far", "user": {"token": "x"}})
    document["contexts"].append({"name": "far", "context": {"cluster": "far", "user": "far"}})
    document["current-context"] = "far"
    path.write_text(yaml.safe_dump(document))

    client = api_client(kubeconfig=path, context="local")
    try:
        assert "default" in namespaces(client)
    finally:
        client.close()
    with pytest.raises(ClusterError, match=r"loading kubeconfig .*missing"):
        api_client(kubeconfig=path, context="missing")


def test_a_missing_kubeconfig_file(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match=r"kubeconfig .*nope does not exist"):
        api_client(kubeconfig=tmp_path / "nope")


def test_no_configuration_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError, match="no Kubernetes configuration"):
        api_client()


def test_in_cluster_outside_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    with pytest.raises(ClusterError, match="loading the in-cluster configuration"):
        api_client(in_cluster=True)


def test_the_kubeconfig_environment_variable_is_used(
    kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    client = api_client()
    try:
        assert "default" in namespaces(client)
    finally:
        client.close()
