"""Fixtures for the integration tests: the local API server and ``kubectl`` bound to it."""

from __future__ import annotations

from tests.kube_fixtures import api_client, apiserver, kubeconfig
from tests.manifests.conftest import kubectl

__all__ = ["api_client", "apiserver", "kubeconfig", "kubectl"]
