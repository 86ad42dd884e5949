"""The Istio router against the local API server.

Inputs: realistic VirtualServices and a DestinationRule created through the API, and
``SetWeights`` effects. Outputs: the objects read back, diffed as a whole against what they
were (only the weight and destination paths of the managed routes may change), the PATCH
requests the server received (one guarded JSON patch per VirtualService, none when the
weights are already in place), and the problems ``check`` reports for broken objects.
"""

from __future__ import annotations

import re
from typing import Any

import jsonpatch
import kubernetes

from kubelite import LocalApiServer
from rollout.effects import SetWeights
from rollout.mesh.istio import IstioRouter
from tests.kube_clients import custom_objects
from tests.mesh.objects import (
    FALLBACK,
    GATEWAY_NAMESPACE,
    HOST,
    ISTIO_GROUP,
    NAMESPACE,
    PRIMARY,
    Create,
    destination_rule,
    gateway_virtual_service,
    make_rollout,
    mesh_virtual_service,
    patch_requests,
    read_vs,
    subset_weights,
)

JsonObject = dict[str, Any]
BOOKKEEPING = re.compile(r"^/metadata/(resourceVersion|generation)$")
WEIGHT_OR_SUBSET = re.compile(
    rf"^/spec/http/({PRIMARY}|{FALLBACK})/route/\d+/(weight|destination/subset)$"
)
ROUTE_ENTRY = re.compile(rf"^/spec/http/({PRIMARY}|{FALLBACK})/route/\d+$")


def changed_paths(before: JsonObject, after: JsonObject) -> list[tuple[str, str]]:
    """Every (op, path) of the whole-object diff, bookkeeping metadata aside."""
    return [
        (op["op"], op["path"])
        for op in jsonpatch.make_patch(before, after).patch
        if not BOOKKEEPING.match(op["path"])
    ]


def test_a_shift_changes_only_weight_and_destination_paths(
    apiserver: LocalApiServer, api_client: Any, objects: Any, mesh: JsonObject
) -> None:
    router = IstioRouter(api_client)
    rollout = make_rollout()
    assert router.check(rollout, "v1", "v2") == []
    before = read_vs(objects)
    apiserver.clear_requests()

    router.set_weights(rollout, SetWeights("v1", "v2", 5))

    after = read_vs(objects)
    changes = changed_paths(before, after)
    assert changes, "the weights moved"
    for op, path in changes:
        assert WEIGHT_OR_SUBSET.match(path) or (op == "add" and ROUTE_ENTRY.match(path)), (op, path)
    primary = after["spec"]["http"][PRIMARY]["route"]
    assert primary == [
        {
            "destination": {"host": HOST, "subset": "v1", "port": {"number": 8080}},
            "weight": 95,
            "headers": {"response": {"set": {"x-served-by": "checkout"}}},
        },
        {
            "destination": {
                "host": "legacy-checkout.shop.svc.cluster.local",
                "port": {"number": 80},
            },
            "weight": 0,
        },
        {"destination": {"host": HOST, "subset": "v2", "port": {"number": 8080}}, "weight": 5},
    ]
    assert after["spec"]["http"][FALLBACK]["route"] == [
        {
            "destination": {"host": "checkout", "subset": "v1", "port": {"number": 8080}},
            "weight": 95,
        },
        {
            "destination": {"host": "checkout", "subset": "v2", "port": {"number": 8080}},
            "weight": 5,
        },
    ]
    patches = patch_requests(apiserver)
    assert len(patches) == 1, "one JSON patch for the VirtualService"
    assert after["spec"]["http"][0] == before["spec"]["http"][0], "unlisted route untouched"

    for weight in (25, 50, 100):
        previous = read_vs(objects)
        router.set_weights(rollout, SetWeights("v1", "v2", weight))
        current = read_vs(objects)
        for op, path in changed_paths(previous, current):
            assert op == "replace" and path.endswith("/weight"), (op, path)
        assert subset_weights(current["spec"]["http"][PRIMARY]) == {
            "v1": 100 - weight,
            "v2": weight,
        }
        assert subset_weights(current["spec"]["http"][FALLBACK]) == {
            "v1": 100 - weight,
            "v2": weight,
        }
        assert router.check(rollout, "v1", "v2") == []


def test_promotion_drops_the_old_stable_and_keeps_everything_else(
    api_client: Any, objects: Any, mesh: JsonObject
) -> None:
    router = IstioRouter(api_client)
    rollout = make_rollout()
    original = read_vs(objects)
    router.set_weights(rollout, SetWeights("v1", "v2", 100))

    router.set_weights(rollout, SetWeights("v2", None, 0))

    after = read_vs(objects)
    for op, path in changed_paths(original, after):
        assert WEIGHT_OR_SUBSET.match(path) or ROUTE_ENTRY.match(path), (op, path)
    primary = after["spec"]["http"][PRIMARY]
    assert primary["route"] == [
        {
            "destination": {
                "host": "legacy-checkout.shop.svc.cluster.local",
                "port": {"number": 80},
            },
            "weight": 0,
        },
        {"destination": {"host": HOST, "subset": "v2", "port": {"number": 8080}}, "weight": 100},
    ]
    without_routes = {k: v for k, v in primary.items() if k != "route"}
    assert without_routes == {
        k: v for k, v in original["spec"]["http"][PRIMARY].items() if k != "route"
    }
    assert subset_weights(after["spec"]["http"][FALLBACK]) == {"v2": 100}
    assert after["metadata"]["labels"] == original["metadata"]["labels"]
    assert after["metadata"]["annotations"] == original["metadata"]["annotations"]


def test_rollback_drops_the_canary_destination(
    api_client: Any, objects: Any, mesh: JsonObject
) -> None:
    router = IstioRouter(api_client)
    rollout = make_rollout()
    original = read_vs(objects)
    router.set_weights(rollout, SetWeights("v1", "v2", 25))
    assert len(read_vs(objects)["spec"]["http"][PRIMARY]["route"]) == 3

    router.set_weights(rollout, SetWeights("v1", None, 0))

    after = read_vs(objects)
    # Back to the original, except that the lone fallback destination now says its weight.
    assert changed_paths(original, after) == [("add", f"/spec/http/{FALLBACK}/route/0/weight")]
    assert after["spec"]["http"][FALLBACK]["route"][0]["weight"] == 100


def test_weights_already_in_place_send_nothing(
    apiserver: LocalApiServer, api_client: Any, mesh: JsonObject
) -> None:
    router = IstioRouter(api_client)
    rollout = make_rollout()
    router.set_weights(rollout, SetWeights("v1", "v2", 50))
    apiserver.clear_requests()

    router.set_weights(rollout, SetWeights("v1", "v2", 50))
    IstioRouter(api_client).set_weights(rollout, SetWeights("v1", "v2", 50))

    assert patch_requests(apiserver) == []
    assert {r.verb for r in apiserver.requests} == {"get"}


def test_the_patch_is_guarded_by_test_ops(api_client: Any, objects: Any, mesh: JsonObject) -> None:
    """A patch planned on a stale read is refused by the server (no lost update): the
    router re-reads and plans again, and the other writer's change survives."""
    sleeps: list[float] = []
    router = IstioRouter(api_client, sleep=sleeps.append)
    rollout = make_rollout()
    real_get = router._get
    edited: list[bool] = []

    def get_then_edit(kind: str, plural: str, namespace: str, name: str) -> JsonObject:
        found = real_get(kind, plural, namespace, name)
        if not edited and kind == "VirtualService":
            edited.append(True)
            objects.patch_namespaced_custom_object(
                ISTIO_GROUP,
                "v1",
                NAMESPACE,
                "virtualservices",
                "checkout",
                [{"op": "replace", "path": f"/spec/http/{PRIMARY}/timeout", "value": "3s"}],
                _content_type="application/json-patch+json",
            )
        return found

    router._get = get_then_edit  # type: ignore[method-assign]
    router.set_weights(rollout, SetWeights("v1", "v2", 5))

    after = read_vs(objects)
    assert router.conflicts_seen == 1 and len(sleeps) == 1
    assert after["spec"]["http"][PRIMARY]["timeout"] == "3s"
    assert subset_weights(after["spec"]["http"][PRIMARY]) == {"v1": 95, "v2": 5}


def test_several_virtual_services_get_one_patch_each(
    apiserver: LocalApiServer, api_client: Any, objects: Any, create: Create
) -> None:
    create(destination_rule("v1", "v2"))
    create(mesh_virtual_service())
    gateway = create(gateway_virtual_service())
    rollout = make_rollout(
        virtual_services=[
            {"name": "checkout", "routes": ["primary", "fallback"]},
            {"name": "checkout-gateway", "namespace": GATEWAY_NAMESPACE},
        ]
    )
    router = IstioRouter(api_client)
    assert router.check(rollout, "v1", "v2") == []
    apiserver.clear_requests()

    router.set_weights(rollout, SetWeights("v1", "v2", 25))

    patched = {(r.namespace, r.name) for r in patch_requests(apiserver)}
    assert patched == {(NAMESPACE, "checkout"), (GATEWAY_NAMESPACE, "checkout-gateway")}
    assert len(patch_requests(apiserver)) == 2
    after = read_vs(objects, "checkout-gateway", GATEWAY_NAMESPACE)
    for _op, path in changed_paths(gateway, after):
        assert re.match(r"^/spec/http/0/route/\d+(/weight|/destination/subset)?$", path), path
    assert after["spec"]["http"][0]["route"] == [
        {"destination": {"host": HOST, "subset": "v1"}, "weight": 75},
        {"destination": {"host": HOST, "subset": "v2"}, "weight": 25},
    ]
    assert router.check(rollout, "v1", "v2") == [], "mid-rollout the objects are still fine"
    live = router.read_weights(rollout)
    assert {r.route: dict(r.weights) for r in live} == {
        f"VirtualService {NAMESPACE}/checkout route primary": {"v1": 75, "v2": 25},
        f"VirtualService {NAMESPACE}/checkout route fallback": {"v1": 75, "v2": 25},
        f"VirtualService {GATEWAY_NAMESPACE}/checkout-gateway route #0": {"v1": 75, "v2": 25},
    }


def test_istio_v1beta1_only_cluster(
    apiserver: LocalApiServer, api_client: Any, create: Create
) -> None:
    """An older Istio serves v1beta1 but not v1: the router finds and uses it."""
    extensions = kubernetes.client.ApiextensionsV1Api(api_client)
    for plural in ("virtualservices", "destinationrules"):
        name = f"{plural}.{ISTIO_GROUP}"
        crd = extensions.read_custom_resource_definition(name)
        crd.spec.versions = [v for v in crd.spec.versions if v.name != "v1"]
        extensions.replace_custom_resource_definition(name, crd)
    create(destination_rule("v1", "v2", version="v1beta1"))
    create(mesh_virtual_service(version="v1beta1"))
    router = IstioRouter(api_client)
    rollout = make_rollout()
    apiserver.clear_requests()

    assert router.check(rollout, "v1", "v2") == []
    router.set_weights(rollout, SetWeights("v1", "v2", 5))

    assert router.api_version == "v1beta1"
    versions = [(r.verb, r.version, r.code) for r in apiserver.requests if r.group == ISTIO_GROUP]
    assert versions[0] == ("get", "v1", 404)
    assert all(version == "v1beta1" for _, version, _ in versions[1:])
    assert ("patch", "v1beta1", 200) in versions
    objects = custom_objects(api_client)
    after = objects.get_namespaced_custom_object(
        ISTIO_GROUP, "v1beta1", NAMESPACE, "virtualservices", "checkout"
    )
    assert subset_weights(after["spec"]["http"][PRIMARY]) == {"v1": 95, "v2": 5}
