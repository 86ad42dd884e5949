"""Fixtures for the router tests: a CustomObjectsApi on the test's local API server, and a
helper to create Istio objects through the API as a user would."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from tests.kube_clients import CustomObjects, custom_objects
from tests.kube_servers import create_namespaces
from tests.mesh.gateway_objects import Routes
from tests.mesh.objects import (
    GATEWAY_NAMESPACE,
    ISTIO_GROUP,
    NAMESPACE,
    Create,
    destination_rule,
    mesh_virtual_service,
)


@pytest.fixture
def objects(api_client: kubernetes.client.ApiClient) -> CustomObjects:
    create_namespaces(api_client, NAMESPACE, GATEWAY_NAMESPACE)
    return custom_objects(api_client)


@pytest.fixture
def create(objects: CustomObjects) -> Create:
    """Create an Istio object (VirtualService or DestinationRule) from its document."""

    def run(document: dict[str, Any]) -> dict[str, Any]:
        version = document["apiVersion"].split("/", 1)[1]
        plural = document["kind"].lower() + "s"
        created: dict[str, Any] = objects.create_namespaced_custom_object(
            ISTIO_GROUP, version, document["metadata"]["namespace"], plural, document
        )
        return created

    return run


@pytest.fixture
def routes(objects: CustomObjects, api_client: kubernetes.client.ApiClient) -> Routes:
    """Two HTTPRoutes ("checkout", "plain") and the two Services they send to."""
    return Routes(objects, api_client)


@pytest.fixture
def mesh(create: Create) -> dict[str, Any]:
    """A DestinationRule with v1 and v2 and the mesh VirtualService ``checkout``."""
    create(destination_rule("v1", "v2"))
    return create(mesh_virtual_service())
