"""Fixtures for the local API server's tests: a ``CustomObjectsApi`` on the test's server
and the ``kubectl`` command prefix for a long-running kubectl (the server, its kubeconfig
and a ``kubectl`` runner come from ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client import ApiClient

from tests.kube_clients import kubectl_binary


@pytest.fixture
def custom(api_client: ApiClient) -> client.CustomObjectsApi:
    """``CustomObjectsApi`` on the test's server."""
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def kubectl_command(kubeconfig: Path, tmp_path: Path) -> list[str]:
    """The kubectl command prefix, for tests that start a long-running kubectl."""
    return [kubectl_binary(), "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "kc")]
