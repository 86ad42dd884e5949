"""The Rollout CRD: generated from the spec model, structural, applied with the real kubectl.

Inputs: ``manifests/crd.yaml`` and the generator ``rollout.kube.crd_schema``. Outputs: the
file is up to date; the schema is structural (a type on every node, no ``$ref``, no
defaults) and names every spec field; ``kubectl apply -f manifests/crd.yaml`` to the local
API server establishes it, and ``kubectl get crollout`` prints the version, stable, phase
and weight columns from a Rollout whose status the store wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes
from pydantic import BaseModel

from rollout.kube import crd_schema
from rollout.kube.mirror import KubeSpecMirror
from rollout.kube.store import KubeStateStore
from rollout.spec.rollout import RolloutSpec
from rollout.state import Phase, RolloutState
from tests.kube.crd_file import CRD_PATH, crd_document
from tests.kube_clients import Kubectl
from tests.kube_servers import create_namespaces

PRINTER_COLUMNS = ["NAME", "VERSION", "STABLE", "PHASE", "WEIGHT", "AGE"]


def test_the_manifest_is_up_to_date() -> None:
    assert crd_schema.main(["--check", "--output", str(CRD_PATH)]) == 0, (
        "manifests/crd.yaml is stale: run python -m rollout.kube.crd_schema"
    )
    assert CRD_PATH.read_text(encoding="utf-8") == crd_schema.render()


def test_check_reports_a_stale_file(tmp_path: Any) -> None:
    stale = tmp_path / "crd.yaml"
    stale.write_text(crd_schema.render().replace("crollout", "ro"), encoding="utf-8")
    assert crd_schema.main(["--check", "--output", str(stale)]) == 1
    assert crd_schema.main(["--output", str(stale)]) == 0
    assert crd_schema.main(["--check", "--output", str(stale)]) == 0


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


def test_the_schema_is_structural() -> None:
    document = crd_document()
    (version,) = document["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    for path, node in _nodes(schema):
        typed = (
            "type" in node
            or node.get("x-kubernetes-int-or-string")
            or node.get("x-kubernetes-preserve-unknown-fields")
        )
        assert typed, f"{path or '<root>'} has no type"
        for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "default", "title", "const"):
            assert forbidden not in node, f"{path}: {forbidden}"
        assert node.get("additionalProperties") is not False, path
        if "properties" in node:
            assert "additionalProperties" not in node, path
    assert schema["properties"]["status"] == {
        "description": "The controller's record of the rollout.",
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    durations = schema["properties"]["spec"]["properties"]["progressDeadline"]
    assert durations == {"x-kubernetes-int-or-string": True}
    significance = schema["properties"]["spec"]["properties"]["analysis"]["properties"][
        "significance"
    ]
    assert significance["exclusiveMinimum"] is True and significance["minimum"] == 0


def _field_names(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def test_the_schema_mirrors_the_spec_model() -> None:
    spec = crd_document()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert set(spec["properties"]) == _field_names(RolloutSpec)
    assert set(spec["required"]) == {"version", "traffic"}
    traffic = spec["properties"]["traffic"]
    assert set(traffic["properties"]) == {
        "host",
        "virtualServices",
        "destinationRule",
        "httpRoutes",
        "sessionAffinity",
    }
    refs = traffic["properties"]["virtualServices"]
    assert "minItems" not in refs  # httpRoutes may stand in for them
    assert set(refs["items"]["properties"]) == {"name", "namespace", "routes"}
    http_routes = traffic["properties"]["httpRoutes"]["items"]
    assert set(http_routes["properties"]) == {"name", "namespace", "stableService", "canaryService"}
    assert set(http_routes["required"]) == {"name", "stableService", "canaryService"}
    step = spec["properties"]["steps"]["items"]["properties"]
    assert step["setWeight"] == {"type": "integer", "minimum": 0, "maximum": 100, "nullable": True}
    header_route = step["setHeaderRoute"]["properties"]
    assert set(header_route) == {"headers", "cookie"}
    match = header_route["headers"]["additionalProperties"]["properties"]
    assert set(match) == {"exact", "prefix", "regex"}
    assert step["setMirror"]["properties"]["percent"]["maximum"] == 100


def test_the_signing_key_is_not_described_as_a_url() -> None:
    spec = crd_document()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    target = spec["properties"]["alerts"]["items"]["properties"]
    assert "URL" in target["url"]["properties"]["value"]["description"]
    signing = target["signingSecret"]["properties"]["value"]["description"]
    assert "URL" not in signing and "signing key" in signing


def test_names_and_columns() -> None:
    names = crd_document()["spec"]["names"]
    assert names["kind"] == "Rollout" and names["plural"] == "rollouts"
    assert "ro" not in names["shortNames"], "Argo Rollouts owns the short name ro"
    assert "crollout" in names["shortNames"]
    version = crd_document()["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Version": ".spec.version",
        "Stable": ".status.stableVersion",
        "Phase": ".status.phase",
        "Weight": ".status.canaryWeight",
        "Age": ".metadata.creationTimestamp",
    }


def test_kubectl_applies_the_crd_and_shows_the_columns(
    kubectl: Kubectl, api_client: kubernetes.client.ApiClient
) -> None:
    applied = kubectl("apply", "-f", str(CRD_PATH))
    assert "customresourcedefinition.apiextensions.k8s.io/rollouts.canary.rollout.dev created" in (
        applied.stdout
    )
    kubectl(
        "wait",
        "--for=condition=Established",
        "crd/rollouts.canary.rollout.dev",
        "--timeout=20s",
    )
    again = kubectl("apply", "-f", str(CRD_PATH))
    assert "unchanged" in again.stdout or "configured" in again.stdout

    create_namespaces(api_client, "shop")
    store = KubeStateStore(api_client)
    body = {
        "apiVersion": "canary.rollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {
            "version": "v2",
            "traffic": {
                "host": "checkout.shop.svc.cluster.local",
                "virtualServices": [{"name": "checkout"}],
                "destinationRule": "checkout",
            },
        },
    }
    KubeSpecMirror(store).mirror_spec(body, commit="0123abc", path="rollouts/checkout.yaml")
    stored = store.load("shop", "checkout")
    state = RolloutState(
        phase=Phase.PROGRESSING, stable_version="v1", canary_version="v2", canary_weight=25
    )
    store.save_state("shop", "checkout", state, stored.resource_version)

    table = kubectl("get", "crollout", "-n", "shop").stdout.splitlines()
    assert table[0].split() == PRINTER_COLUMNS
    assert table[1].split()[:5] == ["checkout", "v2", "v1", "Progressing", "25"]
    by_plural = kubectl("get", "rollouts.canary.rollout.dev", "-n", "shop", "-o", "name")
    assert by_plural.stdout.strip() == "rollout.canary.rollout.dev/checkout"
