"""Client errors translated into rollout.errors, from real answers of the local API server.

Inputs: requests that fail as they would on a cluster (a missing object, a create of an
existing one, a JSON patch whose ``test`` op fails, an invalid object, a server that is not
listening). Outputs: NotFound, Conflict or ClusterError with the server's one-line message,
never a client exception or a multi-line traceback text.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest

from kubelite import LocalApiServer
from rollout.errors import ClusterError, Conflict, NotFound
from rollout.kubeapi import errors
from tests.kube_clients import CustomObjects, as_body, custom_objects, new_api_client
from tests.kube_servers import create_namespaces

GROUP = "networking.istio.io"
JSON_PATCH = "application/json-patch+json"
VIRTUAL_SERVICE = {
    "apiVersion": f"{GROUP}/v1",
    "kind": "VirtualService",
    "metadata": {"name": "checkout", "namespace": "shop"},
    "spec": {"hosts": ["checkout"]},
}


@pytest.fixture
def objects(api_client: kubernetes.client.ApiClient) -> CustomObjects:
    create_namespaces(api_client, "shop")
    return custom_objects(api_client)


def test_a_missing_object_is_not_found(objects: CustomObjects) -> None:
    with (
        pytest.raises(NotFound) as raised,
        errors.translated("reading VirtualService shop/checkout"),
    ):
        objects.get_namespaced_custom_object(GROUP, "v1", "shop", "virtualservices", "checkout")
    assert str(raised.value) == (
        'reading VirtualService shop/checkout: virtualservices.networking.istio.io "checkout" '
        "not found (HTTP 404)"
    )
    assert isinstance(raised.value.__cause__, kubernetes.client.ApiException)


def test_an_unserved_api_is_told_apart_from_a_missing_object(
    objects: CustomObjects,
) -> None:
    with pytest.raises(kubernetes.client.ApiException) as missing_object:
        objects.get_namespaced_custom_object(GROUP, "v1", "shop", "virtualservices", "checkout")
    with pytest.raises(kubernetes.client.ApiException) as unserved:
        objects.get_namespaced_custom_object(GROUP, "v9", "shop", "virtualservices", "checkout")
    assert not errors.is_unserved_api(missing_object.value)
    assert errors.is_unserved_api(unserved.value)


def test_create_of_an_existing_object_is_a_conflict(
    objects: CustomObjects,
) -> None:
    objects.create_namespaced_custom_object(GROUP, "v1", "shop", "virtualservices", VIRTUAL_SERVICE)
    with pytest.raises(Conflict, match="already exists"), errors.translated("creating"):
        objects.create_namespaced_custom_object(
            GROUP, "v1", "shop", "virtualservices", VIRTUAL_SERVICE
        )


def test_a_failed_json_patch_test_op_is_a_conflict(
    objects: CustomObjects,
) -> None:
    objects.create_namespaced_custom_object(GROUP, "v1", "shop", "virtualservices", VIRTUAL_SERVICE)
    stale = [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}]
    with pytest.raises(Conflict) as raised, errors.translated("patching"):
        objects.patch_namespaced_custom_object(
            GROUP, "v1", "shop", "virtualservices", "checkout", stale, _content_type=JSON_PATCH
        )
    assert "the server rejected our request due to an error in our request" in str(raised.value)
    assert "(HTTP 422)" in str(raised.value)


def test_other_rejections_carry_the_server_message(
    api_client: kubernetes.client.ApiClient,
) -> None:
    extensions = kubernetes.client.ApiextensionsV1Api(api_client)
    invalid = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "wrong.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    with pytest.raises(ClusterError) as raised, errors.translated("applying the CRD"):
        extensions.create_custom_resource_definition(as_body(invalid))
    assert type(raised.value) is ClusterError
    message = str(raised.value)
    assert message.startswith("applying the CRD: ")
    assert 'must be spec.names.plural+"."+spec.group' in message and "(HTTP 422)" in message
    assert "\n" not in message


def test_an_unreachable_server_is_a_cluster_error(tmp_path: Path) -> None:
    server = LocalApiServer(port=0).start()
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    server.stop()
    client = new_api_client(kubeconfig)
    client.configuration.retries = 0
    try:
        core = kubernetes.client.CoreV1Api(client)
        with pytest.raises(ClusterError) as raised, errors.translated("listing namespaces"):
            core.list_namespace(_request_timeout=(2, 2))
    finally:
        client.close()
    message = str(raised.value)
    assert message.startswith("listing namespaces: cannot reach the Kubernetes API")
    assert "Traceback" not in message and "\n" not in message
