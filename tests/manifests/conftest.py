"""Fixtures for the manifests' tests: what ``kubectl kustomize manifests/`` builds (the local
API server, ``kubectl`` bound to it and the end-to-end world come from ``tests/conftest.py``)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.kube_clients import kustomize
from tests.manifests.layout import MANIFESTS


@pytest.fixture(scope="session")
def built_yaml() -> str:
    return kustomize(MANIFESTS)


@pytest.fixture(scope="session")
def built(built_yaml: str) -> list[dict[str, Any]]:
    """The documents ``kubectl kustomize manifests/`` builds."""
    return [doc for doc in yaml.safe_load_all(built_yaml) if doc]
