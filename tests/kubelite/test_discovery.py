"""Discovery documents over HTTP: legacy and aggregated (v2) forms, and OpenAPI v3 index.

Inputs: GET requests with the Accept headers client-go sends. Outputs: the documents'
kinds, preferred versions, resources with verbs, short names and status subresources.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from kubelite import LocalApiServer

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def fetch(server: LocalApiServer, path: str, accept: str = "application/json") -> tuple[str, Any]:
    request = urllib.request.Request(server.url + path, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.headers["Content-Type"], json.loads(response.read())


def test_legacy_group_list_and_resource_list(apiserver: LocalApiServer) -> None:
    _, groups = fetch(apiserver, "/apis")
    assert groups["kind"] == "APIGroupList"
    istio = next(g for g in groups["groups"] if g["name"] == "networking.istio.io")
    assert istio["preferredVersion"]["version"] == "v1"
    assert [v["version"] for v in istio["versions"]] == ["v1", "v1beta1", "v1alpha3"]
    _, resources = fetch(apiserver, "/apis/networking.istio.io/v1beta1")
    by_name = {r["name"]: r for r in resources["resources"]}
    assert by_name["virtualservices"]["shortNames"] == ["vs"]
    assert by_name["virtualservices"]["namespaced"] is True
    assert "watch" in by_name["virtualservices"]["verbs"]
    assert by_name["virtualservices/status"]["verbs"] == ["get", "patch", "update"]
    _, core = fetch(apiserver, "/api/v1")
    assert {"namespaces", "secrets", "events", "configmaps"} <= {
        r["name"] for r in core["resources"]
    }


def test_aggregated_discovery(apiserver: LocalApiServer) -> None:
    content_type, document = fetch(apiserver, "/apis", accept=f"{AGGREGATED},application/json")
    assert content_type == AGGREGATED
    assert document["kind"] == "APIGroupDiscoveryList"
    apps = next(item for item in document["items"] if item["metadata"]["name"] == "apps")
    deployments = apps["versions"][0]["resources"][0]
    assert deployments["resource"] == "deployments"
    assert deployments["responseKind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    scale, status = deployments["subresources"]
    assert (scale["subresource"], status["subresource"]) == ("scale", "status")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    _, legacy = fetch(apiserver, "/api", accept=f"{AGGREGATED},application/json")
    assert [item["metadata"]["name"] for item in legacy["items"]] == [""]


def test_openapi_v3_declares_field_validation(apiserver: LocalApiServer) -> None:
    _, index = fetch(apiserver, "/openapi/v3")
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    _, document = fetch(apiserver, url)
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]


def test_version_and_health(apiserver: LocalApiServer) -> None:
    _, version = fetch(apiserver, "/version")
    assert (version["major"], version["minor"]) == ("1", "37")
    with urllib.request.urlopen(apiserver.url + "/healthz", timeout=5) as response:
        assert response.read() == b"ok"
