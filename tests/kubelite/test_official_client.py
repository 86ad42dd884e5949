"""The local API server answers the official ``kubernetes`` client as a cluster would.

Inputs: requests made with ``CustomObjectsApi``, ``AppsV1Api``, ``CoordinationV1Api``,
``CoreV1Api`` and ``watch.Watch`` over HTTP from a kubeconfig. Outputs under test: status
codes and ``Status`` reasons and messages (201, 404, 409 AlreadyExists and Conflict, 422,
415), server-set metadata (uid, resourceVersion, generation, creationTimestamp), selectors,
the status subresource, and watch events with resume and timeouts.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubelite import LocalApiServer
from tests.kube_clients import CustomObjects, as_body
from tests.kubelite.objects import GROUP, NAMESPACE, PLURAL, create_vs, status_of, virtual_service


def test_create_sets_server_fields_and_refuses_duplicates(custom: CustomObjects) -> None:
    created = create_vs(custom, virtual_service("reviews"))
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1 and meta["namespace"] == NAMESPACE
    assert int(meta["resourceVersion"]) > 0
    with pytest.raises(ApiException) as raised:
        create_vs(custom, virtual_service("reviews"))
    assert raised.value.status == 409
    body = status_of(raised.value)
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'virtualservices.networking.istio.io "reviews" already exists'


def test_get_missing_is_not_found_status(custom: CustomObjects) -> None:
    with pytest.raises(ApiException) as raised:
        custom.get_namespaced_custom_object(GROUP, "v1", NAMESPACE, PLURAL, "reviews")
    assert raised.value.status == 404
    body = status_of(raised.value)
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == 404
    assert body["reason"] == "NotFound"
    assert body["message"] == 'virtualservices.networking.istio.io "reviews" not found'
    assert body["details"] == {"name": "reviews", "group": GROUP, "kind": PLURAL}


def test_versions_share_storage(custom: CustomObjects) -> None:
    create_vs(custom, virtual_service("reviews"), version="v1beta1")
    seen = custom.get_namespaced_custom_object(GROUP, "v1", NAMESPACE, PLURAL, "reviews")
    assert seen["apiVersion"] == f"{GROUP}/v1"
    assert seen["spec"]["hosts"] == ["reviews"]


def test_list_with_label_and_field_selectors(custom: CustomObjects) -> None:
    create_vs(custom, virtual_service("a1", a="b", e="x", g="1"))
    create_vs(custom, virtual_service("a2", a="b", c="d", e="x", g="1"))
    create_vs(custom, virtual_service("a3", a="b", e="z", g="1"))
    create_vs(custom, virtual_service("a4", a="b", e="y", f="1", g="1"))
    create_vs(custom, virtual_service("a5", a="b", e="y", g="1"))
    create_vs(custom, virtual_service("a6", a="b", e="y"))
    listed = custom.list_namespaced_custom_object(
        GROUP, "v1", NAMESPACE, PLURAL, label_selector="a=b,c!=d,e in (x,y),!f,g"
    )
    assert listed["kind"] == "VirtualServiceList"
    assert int(listed["metadata"]["resourceVersion"]) >= 6
    assert [item["metadata"]["name"] for item in listed["items"]] == ["a1", "a5"]
    by_name = custom.list_namespaced_custom_object(
        GROUP, "v1", NAMESPACE, PLURAL, field_selector="metadata.name=a3"
    )
    assert [item["metadata"]["name"] for item in by_name["items"]] == ["a3"]
    with pytest.raises(ApiException) as raised:
        custom.list_namespaced_custom_object(
            GROUP, "v1", NAMESPACE, PLURAL, field_selector="spec.x=1"
        )
    assert raised.value.status == 400


def test_list_across_namespaces(custom: CustomObjects) -> None:
    create_vs(custom, virtual_service("here"))
    client.CoreV1Api(custom.api_client).create_namespace(as_body({"metadata": {"name": "other"}}))
    custom.create_namespaced_custom_object(GROUP, "v1", "other", PLURAL, virtual_service("there"))
    everywhere = custom.list_cluster_custom_object(GROUP, "v1", PLURAL)
    assert sorted(
        (i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere["items"]
    ) == [
        ("default", "here"),
        ("other", "there"),
    ]
    in_other = custom.list_cluster_custom_object(
        GROUP, "v1", PLURAL, field_selector="metadata.namespace=other"
    )
    assert [i["metadata"]["name"] for i in in_other["items"]] == ["there"]


def test_objects_in_a_missing_namespace_are_refused(custom: CustomObjects) -> None:
    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object(
            GROUP, "v1", "nowhere", PLURAL, virtual_service("lost")
        )
    assert raised.value.status == 404
    body = status_of(raised.value)
    assert (body["reason"], body["message"]) == ("NotFound", 'namespaces "nowhere" not found')
    assert body["details"] == {"name": "nowhere", "kind": "namespaces"}
    namespaces = client.CoreV1Api(custom.api_client).list_namespace()
    assert "nowhere" not in [ns.metadata.name for ns in namespaces.items if ns.metadata]


def test_replace_checks_resource_version_and_tracks_generation(
    custom: CustomObjects,
) -> None:
    created = create_vs(custom, virtual_service("reviews"))
    stale = json.loads(json.dumps(created))
    created["spec"]["http"][0]["route"][0]["weight"] = 90
    created["spec"]["http"][0]["route"][1]["weight"] = 10
    replaced = custom.replace_namespaced_custom_object(
        GROUP, "v1", NAMESPACE, PLURAL, "reviews", created
    )
    assert replaced["metadata"]["generation"] == 2
    assert int(replaced["metadata"]["resourceVersion"]) > int(stale["metadata"]["resourceVersion"])
    with pytest.raises(ApiException) as raised:
        custom.replace_namespaced_custom_object(GROUP, "v1", NAMESPACE, PLURAL, "reviews", stale)
    assert raised.value.status == 409
    body = status_of(raised.value)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on virtualservices.networking.istio.io "reviews": '
        "the object has been modified; please apply your changes to the latest version and try "
        "again"
    )
    replaced["metadata"]["labels"] = {"only": "metadata"}
    relabelled = custom.replace_namespaced_custom_object(
        GROUP, "v1", NAMESPACE, PLURAL, "reviews", replaced
    )
    assert relabelled["metadata"]["generation"] == 2
    del relabelled["metadata"]["resourceVersion"]
    with pytest.raises(ApiException) as raised:
        custom.replace_namespaced_custom_object(
            GROUP, "v1", NAMESPACE, PLURAL, "reviews", relabelled
        )
    assert raised.value.status == 422
    assert (
        "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
        in (status_of(raised.value)["message"])
    )


def test_json_patch_with_test_ops(custom: CustomObjects) -> None:
    created = create_vs(custom, virtual_service("reviews"))
    version = created["metadata"]["resourceVersion"]
    operations = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": version},
        {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 80},
        {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 20},
    ]
    patched = custom.patch_namespaced_custom_object(
        GROUP,
        "v1",
        NAMESPACE,
        PLURAL,
        "reviews",
        operations,
        _content_type="application/json-patch+json",
    )
    assert [r["weight"] for r in patched["spec"]["http"][0]["route"]] == [80, 20]
    assert patched["metadata"]["generation"] == 2
    with pytest.raises(ApiException) as raised:
        custom.patch_namespaced_custom_object(
            GROUP,
            "v1",
            NAMESPACE,
            PLURAL,
            "reviews",
            operations,
            _content_type="application/json-patch+json",
        )
    assert raised.value.status == 422
    body = status_of(raised.value)
    assert (body["reason"], body["details"]) == ("Invalid", {})
    assert body["message"] == "the server rejected our request due to an error in our request"
    current = custom.get_namespaced_custom_object(GROUP, "v1", NAMESPACE, PLURAL, "reviews")
    assert current["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]


def test_json_patch_body_sent_as_merge_patch_is_rejected(custom: CustomObjects) -> None:
    created = create_vs(custom, virtual_service("reviews"))
    operations = [{"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 1}]
    with pytest.raises(ApiException) as raised:
        custom.patch_namespaced_custom_object(GROUP, "v1", NAMESPACE, PLURAL, "reviews", operations)
    assert raised.value.status == 400
    body = status_of(raised.value)
    assert (body["reason"], body["message"]) == (
        "BadRequest",
        "error decoding patch: json: cannot unmarshal array into Go value of type "
        "map[string]interface {}",
    )
    current = custom.get_namespaced_custom_object(GROUP, "v1", NAMESPACE, PLURAL, "reviews")
    assert current["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_merge_patch_and_unsupported_patch_types(custom: CustomObjects) -> None:
    create_vs(custom, virtual_service("reviews"))
    patched = custom.patch_namespaced_custom_object(
        GROUP,
        "v1",
        NAMESPACE,
        PLURAL,
        "reviews",
        {"metadata": {"labels": {"team": "a"}}, "spec": {"gateways": ["mesh"]}},
    )
    assert patched["metadata"]["labels"] == {"team": "a"}
    assert patched["spec"]["gateways"] == ["mesh"] and patched["spec"]["hosts"] == ["reviews"]
    assert patched["metadata"]["generation"] == 2
    with pytest.raises(ApiException) as raised:
        custom.patch_namespaced_custom_object(
            GROUP,
            "v1",
            NAMESPACE,
            PLURAL,
            "reviews",
            {"spec": {}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert raised.value.status == 415
    assert status_of(raised.value)["reason"] == "UnsupportedMediaType"


@pytest.mark.parametrize("content_type", ["text/plain", None])
def test_patch_without_a_patch_content_type_is_unsupported(
    apiserver: LocalApiServer, custom: CustomObjects, content_type: str | None
) -> None:
    create_vs(custom, virtual_service("reviews"))
    url = f"{apiserver.url}/apis/{GROUP}/v1/namespaces/{NAMESPACE}/{PLURAL}/reviews"
    request = urllib.request.Request(url, data=b'{"spec": {}}', method="PATCH")
    request.add_header("Content-Type", content_type or "")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 415
    body = json.loads(raised.value.read())
    assert body["reason"] == "UnsupportedMediaType"
    assert body["message"].endswith(
        "accepted media types include: application/json-patch+json, application/merge-patch+json"
    )


def test_status_subresource(custom: CustomObjects) -> None:
    create_vs(custom, virtual_service("reviews"))
    with_status = custom.patch_namespaced_custom_object_status(
        GROUP,
        "v1",
        NAMESPACE,
        PLURAL,
        "reviews",
        {"status": {"phase": "Ready"}, "spec": {"hosts": ["x"]}},
    )
    assert with_status["status"] == {"phase": "Ready"}
    assert with_status["spec"]["hosts"] == ["reviews"]
    assert with_status["metadata"]["generation"] == 1
    main = custom.patch_namespaced_custom_object(
        GROUP, "v1", NAMESPACE, PLURAL, "reviews", {"status": {"phase": "Ignored"}}
    )
    assert main["status"] == {"phase": "Ready"}
    assert main["metadata"]["resourceVersion"] == with_status["metadata"]["resourceVersion"]
    with_status["status"] = {"phase": "Replaced"}
    replaced = custom.replace_namespaced_custom_object_status(
        GROUP, "v1", NAMESPACE, PLURAL, "reviews", with_status
    )
    assert replaced["status"] == {"phase": "Replaced"}
    fetched = custom.get_namespaced_custom_object_status(GROUP, "v1", NAMESPACE, PLURAL, "reviews")
    assert fetched["status"] == {"phase": "Replaced"}


def test_delete_returns_a_success_status_then_not_found(custom: CustomObjects) -> None:
    created = create_vs(custom, virtual_service("reviews"))
    deleted = custom.delete_namespaced_custom_object(GROUP, "v1", NAMESPACE, PLURAL, "reviews")
    assert (deleted["kind"], deleted["status"]) == ("Status", "Success")
    assert deleted["details"] == {
        "name": "reviews",
        "group": GROUP,
        "kind": PLURAL,
        "uid": created["metadata"]["uid"],
    }
    with pytest.raises(ApiException) as raised:
        custom.delete_namespaced_custom_object(GROUP, "v1", NAMESPACE, PLURAL, "reviews")
    assert raised.value.status == 404


def test_finalizers_hold_deletion_until_removed(custom: CustomObjects) -> None:
    body = virtual_service("reviews")
    body["metadata"]["finalizers"] = ["example.test/cleanup"]
    create_vs(custom, body)
    marked = custom.delete_namespaced_custom_object(GROUP, "v1", NAMESPACE, PLURAL, "reviews")
    assert marked["metadata"]["deletionTimestamp"]
    custom.patch_namespaced_custom_object(
        GROUP, "v1", NAMESPACE, PLURAL, "reviews", {"metadata": {"finalizers": None}}
    )
    with pytest.raises(ApiException) as raised:
        custom.get_namespaced_custom_object(GROUP, "v1", NAMESPACE, PLURAL, "reviews")
    assert raised.value.status == 404
