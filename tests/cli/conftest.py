"""Fixtures of the CLI tests: a Rollout, as ``rollout`` and ``kubectl canary`` find it.

The local API server and its kubeconfig (``apiserver``, ``kubeconfig``, ``api_client``) come
from the suite's own ``tests/conftest.py``.
"""

from __future__ import annotations

import kubernetes
import pytest

from tests.kube.crd_file import crd_document
from tests.kube_clients import CustomObjects, custom_objects
from tests.kube_servers import create_namespaces, install_crd


@pytest.fixture
def checkout(api_client: kubernetes.client.ApiClient) -> CustomObjects:
    """The Rollout CRD and ``shop/checkout`` (version v2), with no status: no controller runs."""
    install_crd(api_client, crd_document())
    create_namespaces(api_client, "shop")
    custom = custom_objects(api_client)
    custom.create_namespaced_custom_object(
        "canary.rollout.dev",
        "v1alpha1",
        "shop",
        "rollouts",
        {
            "apiVersion": "canary.rollout.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {
                "version": "v2",
                "traffic": {
                    "host": "checkout",
                    "destinationRule": "checkout",
                    "virtualServices": [{"name": "checkout"}],
                },
            },
        },
    )
    return custom
