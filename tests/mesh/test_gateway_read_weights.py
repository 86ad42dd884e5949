"""An HTTPRoute read back: its weights by version, for drift and adoption.

Inputs: HTTPRoutes and their two Services on the API server, moved by the Gateway API
router and edited by someone else (a weight, a Service's selector); the router restarted
with no memory, and with list+watch caches. Outputs: ``read_weights`` (each weighted
rule's split by the subset of the version each Service selects), the drift the
coordinator would report and restore, and what adoption makes of the split when the
Rollout's state is lost.
"""

from __future__ import annotations

from typing import Any

import pytest

from rollout import route_record
from rollout.adoption import LiveRoutes, adopt
from rollout.drift import weight_drift
from rollout.effects import SetWeights
from rollout.mesh.gateway import GATEWAY_GROUP, GatewayRouter
from rollout.spec.rollout import Rollout
from rollout.state import FailedRevision, Phase, RolloutState
from tests.mesh.gateway_objects import Routes, gateway_rollout
from tests.mesh.objects import NAMESPACE

pytestmark = pytest.mark.cluster

STEPS = ({"setWeight": 20}, {"analyze": {"duration": "1m"}}, {"setWeight": 40})
ROLLOUT = gateway_rollout("checkout", *STEPS)


def adopted(router: GatewayRouter, rollout: Rollout) -> tuple[RolloutState, str]:
    """What adoption makes of the routes as ``router`` reads them, with no state."""
    live = LiveRoutes(splits=tuple(dict(r.weights) for r in router.read_weights(rollout)))
    found = adopt(rollout, live, RolloutState(), now=0.0, spec_hash="h", commit=None)
    assert found.state is not None, found.message
    return found.state, found.message


def test_an_edited_weight_is_drift_and_a_restarted_router_resumes_the_canary(
    routes: Routes, api_client: Any
) -> None:
    router, rollout = GatewayRouter(api_client), ROLLOUT
    router.set_weights(rollout, SetWeights("v1", "v2", 20))
    state = RolloutState(
        phase=Phase.PROGRESSING, stable_version="v1", canary_version="v2", canary_weight=20
    )
    assert weight_drift(rollout, state, router.read_weights(rollout)) is None
    routes.objects.patch_namespaced_custom_object(
        GATEWAY_GROUP,
        "v1",
        NAMESPACE,
        "httproutes",
        "checkout",
        [
            {"op": "replace", "path": "/spec/rules/1/backendRefs/0/weight", "value": 60},
            {"op": "replace", "path": "/spec/rules/1/backendRefs/1/weight", "value": 40},
        ],
        _content_type="application/json-patch+json",
    )
    restarted = GatewayRouter(api_client)
    assert weight_drift(rollout, state, restarted.read_weights(rollout)) == (
        f"canary weight is 40% in HTTPRoute {NAMESPACE}/checkout rule 1, 20% was set: restored"
    )
    state, _ = adopted(restarted, rollout)
    assert (state.phase, state.stable_version, state.canary_version, state.canary_weight) == (
        Phase.PROGRESSING,
        "v1",
        "v2",
        40,
    )


def test_a_promoted_route_is_adopted_as_its_version_and_an_unmanaged_one_as_the_specs(
    routes: Routes, api_client: Any
) -> None:
    router, rollout = GatewayRouter(api_client), ROLLOUT
    router.set_weights(rollout, SetWeights("v1", "v2", 40))
    router.set_weights(rollout, SetWeights("v2", None, 0))
    state, _ = adopted(router, rollout)
    assert (state.phase, state.stable_version) == (Phase.SUCCEEDED, "v2")
    untouched = gateway_rollout("plain", *STEPS)
    routes.core.patch_namespaced_service(
        "checkout-primary",
        NAMESPACE,
        [{"op": "remove", "path": "/spec/selector/version"}],
        _content_type="application/json-patch+json",
    )
    state, message = adopted(router, untouched)
    assert state.stable_version == "v2" and message.startswith("the route names no subset")


def test_read_weights_names_the_versions_the_services_select(
    routes: Routes, api_client: Any
) -> None:
    router = GatewayRouter(api_client)
    rollout = gateway_rollout("checkout")
    label = f"HTTPRoute {NAMESPACE}/checkout rule 1"
    assert [(r.route, dict(r.weights)) for r in router.read_weights(rollout)] == [
        (label, {"v1": 100})
    ]
    router.set_weights(rollout, SetWeights("v1", "v2", 30))
    assert [dict(r.weights) for r in router.read_weights(rollout)] == [{"v1": 70, "v2": 30}]
    router.set_weights(rollout, SetWeights("v2", None, 0))
    assert [dict(r.weights) for r in router.read_weights(rollout)] == [{"v2": 100}]
    routes.core.patch_namespaced_service(
        "checkout-primary",
        NAMESPACE,
        [{"op": "remove", "path": "/spec/selector/version"}],
        _content_type="application/json-patch+json",
    )
    assert [dict(r.weights) for r in router.read_weights(rollout)] == [{"": 100}]


def test_with_caches_httproutes_and_services_are_listed_once_used_and_not_read_again(
    routes: Routes, api_client: Any, apiserver: Any
) -> None:
    router = GatewayRouter(api_client)
    rollout = gateway_rollout("checkout")
    apiserver.clear_requests()
    router.start_caches()
    try:
        assert [r for r in apiserver.requests if r.resource in ("httproutes", "services")] == []
        router.set_weights(rollout, SetWeights("v1", "v2", 10))
        assert [dict(r.weights) for r in router.read_weights(rollout)] == [{"v1": 90, "v2": 10}]
        router.set_weights(rollout, SetWeights("v1", "v2", 40))
        assert [dict(r.weights) for r in router.read_weights(rollout)] == [{"v1": 60, "v2": 40}]
    finally:
        router.stop_caches()
    ours = [
        (r.resource, r.verb) for r in apiserver.requests if r.resource in ("httproutes", "services")
    ]
    assert ("httproutes", "get") not in ours and ("services", "get") not in ours
    assert {("httproutes", "list"), ("services", "list"), ("httproutes", "patch")} <= set(ours)


def test_the_record_goes_in_the_weights_patch_and_adoption_keeps_the_failed_revision(
    routes: Routes, api_client: Any, apiserver: Any
) -> None:
    """A Rollout deleted after its canary failed: the record on the HTTPRoute brings the
    failed revision back, so the recreated rollout does not try that version again."""
    router, rollout = GatewayRouter(api_client), ROLLOUT
    key = route_record.annotation_key(rollout.namespace, rollout.name)
    under_way = '{"rollout":"shop/checkout","stable":"v1","canary":"v2","weight":20,"step":1}'
    apiserver.clear_requests()
    router.set_weights(rollout, SetWeights("v1", "v2", 20, record=under_way))
    patches = [r.resource for r in apiserver.requests if r.verb == "patch"]
    assert patches == ["services", "httproutes"], "weights and record in one HTTPRoute patch"
    assert routes.read("checkout")["metadata"]["annotations"][key] == under_way
    assert [r.record for r in router.read_weights(rollout)] == [under_way]

    failed = route_record.encode(
        route_record.RouteRecord(
            rollout="shop/checkout",
            stable="v1",
            failed=FailedRevision(version="v2", spec_hash="h", reason="errors", at=1.0),
        )
    )
    router.set_weights(rollout, SetWeights("v1", None, 0, record=failed))
    live = LiveRoutes(
        splits=tuple(dict(r.weights) for r in router.read_weights(rollout)),
        records=tuple(r.record for r in router.read_weights(rollout) if r.record),
    )
    found = adopt(rollout, live, RolloutState(), now=0.0, spec_hash="h", commit=None)
    assert found.state is not None and found.reason == "Adopted", found.message
    assert found.state.stable_version == "v1" and found.state.phase is Phase.ROLLED_BACK
    assert found.state.failed is not None and found.state.failed.version == "v2"
