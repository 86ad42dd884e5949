"""The HTTPRoute patch planner, applied to a realistic HTTPRoute as a whole-object diff.

Inputs: an HTTPRoute with a rule of the user's that sends elsewhere (``/admin`` to another
Service), a weighted rule to the stable Service with a user filter, and ``GatewayTarget``s
for a weight step, a header route, a mirror, promotion and rollback. Outputs: the object
after applying the planned JSON patch, compared with the object before as a whole: only
the paths we manage differ, and after the rollout ends the object is back to the user's
with only the stable weight set. Also: the guards (a stale object is refused by the patch
itself), problems reported with no operation, and no patch when everything is in place.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from rollout.mesh.gateway_routes import GatewayTarget, header_rule_name, plan_http_route
from rollout.spec.routing import HeaderRoute, Routing, SessionAffinity
from tests.mesh import objects

JsonObject = dict[str, Any]
OWNER = f"{objects.NAMESPACE}.checkout"
HEADER = HeaderRoute.model_validate(
    {"headers": {"x-canary": {"exact": "always"}, "x-tier": {"prefix": "beta."}}}
)


def http_route() -> JsonObject:
    route = objects.http_route()
    route["metadata"]["resourceVersion"] = "7"
    return route


def target(weight: int, *, active: bool = True, routing: Routing | None = None) -> GatewayTarget:
    return GatewayTarget(
        stable_service="checkout-primary",
        canary_service="checkout-canary",
        canary_active=active,
        canary_weight=weight,
        owner=OWNER,
        routing=routing,
    )


def applied(route: JsonObject, goal: GatewayTarget) -> JsonObject:
    plan = plan_http_route(route, goal)
    assert plan.problems == []
    result: JsonObject = jsonpatch.apply_patch(route, plan.operations)
    result["metadata"]["resourceVersion"] = str(int(route["metadata"]["resourceVersion"]) + 1)
    return result


def test_a_weight_step_changes_only_the_weighted_rules_backend_refs() -> None:
    before = http_route()
    after = applied(before, target(20))
    expected = copy.deepcopy(before)
    expected["metadata"]["resourceVersion"] = "8"
    expected["spec"]["rules"][1]["backendRefs"] = [
        {"name": "checkout-primary", "port": 80, "weight": 80},
        {"name": "checkout-canary", "port": 80, "weight": 20},
    ]
    assert after == expected
    again = applied(after, target(50))
    assert [ref["weight"] for ref in again["spec"]["rules"][1]["backendRefs"]] == [50, 50]
    assert plan_http_route(again, target(50)).operations == []


def test_the_header_rule_goes_before_the_weighted_rule_and_the_mirror_on_it() -> None:
    before = http_route()
    routing = Routing(header_route=HEADER, mirror_percent=12.5)
    after = applied(before, target(10, routing=routing))
    rules = after["spec"]["rules"]
    assert rules[0] == before["spec"]["rules"][0]
    assert rules[1] == {
        "name": header_rule_name(OWNER),
        "matches": [
            {
                "path": {"type": "PathPrefix", "value": "/"},
                "headers": [
                    {"type": "Exact", "name": "x-canary", "value": "always"},
                    {"type": "RegularExpression", "name": "x-tier", "value": r"^beta\..*"},
                ],
            }
        ],
        "backendRefs": [{"name": "checkout-canary", "port": 80}],
    }
    weighted = rules[2]
    assert weighted["filters"] == [
        before["spec"]["rules"][1]["filters"][0],
        {
            "type": "RequestMirror",
            "requestMirror": {
                "backendRef": {"name": "checkout-canary", "port": 80},
                "fraction": {"numerator": 1250, "denominator": 10000},
            },
        },
    ]
    assert after["spec"]["parentRefs"] == before["spec"]["parentRefs"]
    assert after["spec"]["hostnames"] == before["spec"]["hostnames"]


def test_a_step_that_drops_the_header_and_mirror_removes_them_and_keeps_the_weights() -> None:
    routing = Routing(header_route=HEADER, mirror_percent=20)
    with_extras = applied(http_route(), target(10, routing=routing))
    without = applied(with_extras, target(10, routing=Routing()))
    assert without["spec"] == applied(http_route(), target(10))["spec"]


def test_a_mirror_on_a_rule_without_filters_leaves_no_empty_list_behind() -> None:
    route = http_route()
    del route["spec"]["rules"][1]["filters"]
    mirrored = applied(route, target(10, routing=Routing(mirror_percent=5)))
    assert mirrored["spec"]["rules"][1]["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": {"name": "checkout-canary", "port": 80}, "percent": 5},
        }
    ]
    stopped = applied(mirrored, target(10, routing=Routing()))
    assert stopped["spec"] == applied(route, target(10))["spec"]


@pytest.mark.parametrize("weight", [0, 100], ids=["rollback", "promotion"])
def test_the_end_of_a_rollout_leaves_only_the_stable_weight(weight: int) -> None:
    routing = Routing(header_route=HEADER, mirror_percent=50)
    during = applied(http_route(), target(40, routing=routing))
    ended = applied(during, target(weight, active=False, routing=None))
    expected = http_route()["spec"]
    expected["rules"][1]["backendRefs"] = [{"name": "checkout-primary", "port": 80, "weight": 100}]
    assert ended["spec"] == expected


def test_the_patch_is_refused_when_the_object_moved_since_it_was_read() -> None:
    route = http_route()
    plan = plan_http_route(route, target(20, routing=Routing(header_route=HEADER)))
    assert plan.operations[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}
    moved = copy.deepcopy(route)
    moved["metadata"]["resourceVersion"] = "8"
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(moved, plan.operations)


def test_problems_are_reported_and_nothing_is_planned() -> None:
    route = http_route()
    route["spec"]["rules"][1]["backendRefs"].append({"name": "legacy", "port": 80})
    plan = plan_http_route(route, target(20))
    assert plan.operations == []
    assert plan.problems == ["rule 1 also sends to legacy, which we do not manage"]
    sticky = Routing(affinity=SessionAffinity())
    assert plan_http_route(http_route(), target(20, routing=sticky)).problems == [
        "sessionAffinity is not supported on an HTTPRoute"
    ]
    lost = http_route()
    lost["spec"]["rules"].pop()
    assert plan_http_route(lost, target(20)).problems == [
        "has no rule sending to Service checkout-primary"
    ]
