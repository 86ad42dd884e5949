"""Fixtures for the local API server's tests: a ``CustomObjectsApi`` on the test's server
and the ``kubectl`` command prefix for a long-running kubectl (the server, its kubeconfig
and a ``kubectl`` runner come from ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from tests.kube_clients import CustomObjects, custom_objects, kubectl_binary


@pytest.fixture
def custom(api_client: ApiClient) -> CustomObjects:
    """``CustomObjectsApi`` on the test's server."""
    return custom_objects(api_client)


@pytest.fixture
def kubectl_command(kubeconfig: Path, tmp_path: Path) -> list[str]:
    """The kubectl command prefix, for tests that start a long-running kubectl."""
    return [kubectl_binary(), "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "kc")]
