"""The Istio router's reads and checks against the local API server.

Inputs: VirtualServices edited by hand (weights changed, routes renamed), a second
VirtualService broken in several ways, missing objects, and the state record the router
writes. Outputs: the live split ``read_weights`` sees (also from a restarted router), the
requests that touched nothing when a later object is broken, the problems ``check`` names,
and the record read back from the weights' own patch.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite import LocalApiServer
from rollout import route_record
from rollout.drift import live_canary_weight, weight_drift
from rollout.effects import SetWeights
from rollout.errors import NotFound, TrafficConfigError
from rollout.mesh.istio import IstioRouter
from rollout.state import Phase, RolloutState
from tests.mesh.objects import (
    FALLBACK,
    GATEWAY_NAMESPACE,
    HOST,
    ISTIO_GROUP,
    NAMESPACE,
    PRIMARY,
    Create,
    destination_rule,
    effective_weights,
    gateway_virtual_service,
    make_rollout,
    mesh_virtual_service,
    patch_requests,
    read_vs,
)

JsonObject = dict[str, Any]


def test_read_weights_sees_an_edited_route_and_a_restarted_router_reads_the_split(
    api_client: Any, objects: Any, mesh: JsonObject, kubeconfig: Any
) -> None:
    router = IstioRouter(api_client)
    rollout = make_rollout()
    router.set_weights(rollout, SetWeights("v1", "v2", 25))
    state = RolloutState(
        phase=Phase.PROGRESSING, stable_version="v1", canary_version="v2", canary_weight=25
    )
    assert weight_drift(rollout, state, router.read_weights(rollout)) is None
    objects.patch_namespaced_custom_object(
        ISTIO_GROUP,
        "v1",
        NAMESPACE,
        "virtualservices",
        "checkout",
        [
            {"op": "replace", "path": f"/spec/http/{FALLBACK}/route/0/weight", "value": 60},
            {"op": "replace", "path": f"/spec/http/{FALLBACK}/route/1/weight", "value": 40},
        ],
        _content_type="application/json-patch+json",
    )

    live = router.read_weights(rollout)
    assert [r.describe() for r in live] == [
        f"VirtualService {NAMESPACE}/checkout route primary: v1 75%, v2 25%",
        f"VirtualService {NAMESPACE}/checkout route fallback: v1 60%, v2 40%",
    ]
    assert live_canary_weight(rollout, state, live) == 40, "the one edited route is seen"
    assert weight_drift(rollout, state, live) == (
        f"canary weight is 40% in VirtualService {NAMESPACE}/checkout route fallback, "
        "25% was set: restored"
    )

    from tests.kube_clients import new_api_client

    restarted_client = new_api_client(kubeconfig)
    try:
        restarted = IstioRouter(restarted_client)
        assert [dict(r.weights) for r in restarted.read_weights(rollout)] == [
            {"v1": 75, "v2": 25},
            {"v1": 60, "v2": 40},
        ], "a restarted router reads which destination holds the weight"
        restarted.set_weights(rollout, SetWeights("v1", "v2", 25))
        assert live_canary_weight(rollout, state, restarted.read_weights(rollout)) == 25
    finally:
        restarted_client.close()


def test_a_broken_second_virtual_service_leaves_the_first_untouched(
    apiserver: LocalApiServer, api_client: Any, objects: Any, create: Create
) -> None:
    create(destination_rule("v1", "v2"))
    create(mesh_virtual_service())
    broken = gateway_virtual_service()
    broken["spec"]["http"][0]["route"][0]["destination"]["host"] = (
        "elsewhere.shop.svc.cluster.local"
    )
    create(broken)
    rollout = make_rollout(
        virtual_services=[
            {"name": "checkout", "routes": ["primary", "fallback"]},
            {"name": "checkout-gateway", "namespace": GATEWAY_NAMESPACE},
        ]
    )
    before = read_vs(objects)
    router = IstioRouter(api_client)
    apiserver.clear_requests()

    with pytest.raises(TrafficConfigError) as raised:
        router.set_weights(rollout, SetWeights("v1", "v2", 5))

    assert raised.value.problems == [
        f"VirtualService {GATEWAY_NAMESPACE}/checkout-gateway has no http route with a "
        f"destination for host {HOST}"
    ]
    assert patch_requests(apiserver) == []
    assert read_vs(objects) == before


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        pytest.param(
            lambda vs, dr: (None, dr),
            [f"VirtualService {NAMESPACE}/checkout not found"],
            id="missing-virtual-service",
        ),
        pytest.param(
            lambda vs, dr: (_rename_route(vs, "fallback", "default"), dr),
            [
                f"VirtualService {NAMESPACE}/checkout has no http route named 'fallback' "
                "(named routes: 'canary-header', 'primary', 'static', 'default')"
            ],
            id="unknown-route-name",
        ),
        pytest.param(
            lambda vs, dr: (vs, destination_rule("v1")),
            [f"DestinationRule {NAMESPACE}/checkout has no subset 'v2' for version v2"],
            id="missing-canary-subset",
        ),
        pytest.param(
            lambda vs, dr: (vs, None),
            [f"DestinationRule {NAMESPACE}/checkout not found"],
            id="missing-destination-rule",
        ),
        pytest.param(
            lambda vs, dr: (_set_weights(vs, PRIMARY, [90, 0]), dr),
            [f"VirtualService {NAMESPACE}/checkout route 'primary' weights sum to 90, not 100"],
            id="weights-not-summing-to-100",
        ),
        pytest.param(
            lambda vs, dr: (_set_weights(vs, PRIMARY, [80, 20]), dr),
            [
                f"VirtualService {NAMESPACE}/checkout route 'primary' sends 20% to other hosts; "
                f"stable and canary of {HOST} must carry all of it"
            ],
            id="weight-on-another-host",
        ),
    ],
)
def test_check_names_the_broken_object(
    apiserver: LocalApiServer,
    api_client: Any,
    create: Create,
    break_it: Any,
    expected: list[str],
) -> None:
    virtual_service, rule = break_it(mesh_virtual_service(), destination_rule("v1", "v2"))
    if rule is not None:
        create(rule)
    if virtual_service is not None:
        create(virtual_service)
    router = IstioRouter(api_client)
    rollout = make_rollout()

    assert router.check(rollout, "v1", "v2") == expected

    apiserver.clear_requests()
    structural = "sum to" not in expected[0]
    if structural:
        with pytest.raises(TrafficConfigError) as raised:
            router.set_weights(rollout, SetWeights("v1", "v2", 5))
        assert raised.value.problems == expected
        assert patch_requests(apiserver) == []


def test_reading_a_missing_virtual_service_is_not_found(api_client: Any) -> None:
    with pytest.raises(NotFound, match=f"VirtualService {NAMESPACE}/checkout not found"):
        IstioRouter(api_client).read_weights(make_rollout())


def _rename_route(document: JsonObject, old: str, new: str) -> JsonObject:
    changed = copy.deepcopy(document)
    for route in changed["spec"]["http"]:
        if route.get("name") == old:
            route["name"] = new
    return changed


def _set_weights(document: JsonObject, index: int, weights: list[int]) -> JsonObject:
    changed = copy.deepcopy(document)
    for entry, weight in zip(changed["spec"]["http"][index]["route"], weights, strict=True):
        entry["weight"] = weight
    assert effective_weights(changed["spec"]["http"][index]) == weights
    return changed


def test_the_record_is_written_in_the_weights_patch_and_read_back(
    apiserver: LocalApiServer, api_client: Any, objects: Any, mesh: JsonObject
) -> None:
    router = IstioRouter(api_client)
    rollout = make_rollout()
    key = route_record.annotation_key(rollout.namespace, rollout.name)
    first = '{"rollout":"shop/checkout","stable":"v1","canary":"v2","weight":5}'
    apiserver.clear_requests()

    router.set_weights(rollout, SetWeights("v1", "v2", 5, record=first))

    assert len(patch_requests(apiserver)) == 1  # weights and record in one patch
    after = read_vs(objects)
    assert after["metadata"]["annotations"][key] == first
    assert after["metadata"]["annotations"]["owner"] == "payments@example.com"  # kept
    assert [r.record for r in router.read_weights(rollout)] == [first, first]

    apiserver.clear_requests()
    router.set_weights(rollout, SetWeights("v1", "v2", 5, record=first))
    assert patch_requests(apiserver) == [], "nothing changed, nothing sent"

    failed = '{"rollout":"shop/checkout","stable":"v1","failed":{"version":"v2"}}'
    router.set_weights(rollout, SetWeights("v1", "v2", 5, record=failed))
    assert len(patch_requests(apiserver)) == 1  # the record alone (see test_istio_routes)
    assert read_vs(objects)["metadata"]["annotations"][key] == failed
