"""Planning the Services' selectors and reading an HTTPRoute's split by version, as data.

Inputs: Service and HTTPRoute documents as the API returns them. Outputs: the guarded JSON
patch that points a Service at a version (nothing when it already does, a problem when it
has no selector), and each weighted rule's split by the subset each Service selects,
Gateway API's proportional weights read as percentages.
"""

from __future__ import annotations

import copy

import jsonpatch

from rollout.mesh.gateway_routes import GatewayTarget
from rollout.mesh.gateway_services import plan_selector, rule_splits, selected_version
from tests.mesh.objects import http_route, service

TARGET = GatewayTarget(
    stable_service="checkout-primary",
    canary_service="checkout-canary",
    canary_active=False,
    canary_weight=0,
    owner="shop.checkout",
)


def test_a_service_is_pointed_at_a_version_by_one_guarded_selector_change() -> None:
    user = service("checkout-canary", "v1")
    user["metadata"]["resourceVersion"] = "7"
    plan = plan_selector(user, "v2")
    assert plan.problems == []
    assert plan.operations[:2] == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
        {"op": "test", "path": "/spec/selector", "value": {"app": "checkout", "version": "v1"}},
    ]
    moved = jsonpatch.apply_patch(user, plan.operations)
    expected = copy.deepcopy(user)
    expected["spec"]["selector"]["version"] = "v2"
    assert moved == expected and selected_version(moved) == "v2"
    assert plan_selector(moved, "v2").operations == []


def test_a_selector_without_version_gains_one_and_no_selector_is_a_problem() -> None:
    unversioned = service("checkout-primary", None)
    assert selected_version(unversioned) is None
    moved = jsonpatch.apply_patch(unversioned, plan_selector(unversioned, "v1").operations)
    assert moved["spec"]["selector"] == {"app": "checkout", "version": "v1"}
    headless = service("checkout-primary", "v1")
    del headless["spec"]["selector"]
    plan = plan_selector(headless, "v1")
    assert plan.operations == []
    assert plan.problems == ["has no selector: its endpoints cannot be moved to a version"]


def test_each_weighted_rule_is_read_as_percentages_by_the_selected_subsets() -> None:
    route = http_route()
    subsets = {"checkout-primary": "v1", "checkout-canary": "v2"}
    assert rule_splits(route, TARGET, subsets.__getitem__) == [(1, {"v1": 100})]
    refs = route["spec"]["rules"][1]["backendRefs"]
    refs.append({"name": "checkout-canary", "port": 80, "weight": 3})
    refs[0]["weight"] = 1
    assert rule_splits(route, TARGET, subsets.__getitem__) == [(1, {"v1": 25, "v2": 75})]
    same = {"checkout-primary": "v2", "checkout-canary": "v2"}
    assert rule_splits(route, TARGET, same.__getitem__) == [(1, {"v2": 100})]
