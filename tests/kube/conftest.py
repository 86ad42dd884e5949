"""Fixtures for the Kubernetes adapter tests: the Rollout CRD created on the test's local
API server (the server, its clients and ``kubectl`` come from ``tests/conftest.py``)."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from tests.kube.crd_file import crd_document
from tests.kube_servers import install_crd


@pytest.fixture
def rollout_crd(api_client: kubernetes.client.ApiClient) -> dict[str, Any]:
    """The project's Rollout CRD, created through the API and served."""
    return install_crd(api_client, crd_document())
