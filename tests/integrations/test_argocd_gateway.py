"""The example Argo CD Application over a rollout routed by a Gateway API HTTPRoute.

Inputs: ``examples/argocd/application.yaml`` with the real jq evaluating its
``jqPathExpressions`` over the example HTTPRoute and its two Services while the real
planners (:mod:`rollout.mesh.gateway_routes`, :mod:`rollout.mesh.gateway_services`) walk
every example rollout with ``httpRoutes`` through its steps (header rule, mirror, weights),
a promotion, a next version and a rollback, in the order the router sends them (the
stable Service, the canary Service after the route is drained of it, then the route).
Outputs under test: every path those patches change is ignored, Argo CD sees no difference
at any step, and what we do not manage (the other rules, matches, timeouts, filters of
the user's, the Services' other selector labels and ports) is not ignored.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from rollout.mesh import gateway_routes, gateway_services
from rollout.mesh.gateway_routes import GatewayTarget
from rollout.spec.rollout import Rollout
from rollout.spec.traffic import HTTPRouteRef
from tests.integrations.argocd_ignore import (
    assert_changes_ignored,
    covered,
    example_objects,
    ignore_expressions,
    ignored_pointers,
    lifecycle,
    normalized,
    rollout_specs,
)

JsonObject = dict[str, Any]


def route_expressions(name: str) -> list[str]:
    return ignore_expressions("gateway.networking.k8s.io", "HTTPRoute", name)


def service_expressions(name: str) -> list[str]:
    return ignore_expressions("", "Service", name)


def gateway_rollouts() -> list[tuple[Rollout, HTTPRouteRef]]:
    found = [
        (rollout, ref) for rollout in rollout_specs() for ref in rollout.spec.traffic.http_routes
    ]
    assert found, "an example rollout routes by HTTPRoute"
    return found


def walk(
    rollout: Rollout, ref: HTTPRouteRef, route: JsonObject, *, check_paths: bool = True
) -> tuple[list[dict[str, JsonObject]], int]:
    """The live HTTPRoute and Services after each routing of the lifecycle, patched as
    the router patches them; with ``check_paths`` every changed path is asserted ignored.
    Returns the states and how many changed paths were checked."""
    live = {
        "route": route,
        ref.stable_service: example_objects("Service")[ref.stable_service],
        ref.canary_service: example_objects("Service")[ref.canary_service],
    }
    expressions = {
        "route": route_expressions(ref.name),
        ref.stable_service: service_expressions(ref.stable_service),
        ref.canary_service: service_expressions(ref.canary_service),
    }
    checked = 0

    def patch(key: str, operations: list[JsonObject]) -> None:
        nonlocal checked
        if check_paths:
            live[key], count = assert_changes_ignored(live[key], operations, expressions[key])
            checked += count
        else:
            live[key] = jsonpatch.apply_patch(live[key], operations)

    def select(service: str, version: str) -> None:
        plan = gateway_services.plan_selector(live[service], version)
        assert plan.problems == []
        patch(service, plan.operations)

    seen = []
    owner = f"{rollout.namespace}.{rollout.name}"
    for moment in lifecycle(rollout):
        target = GatewayTarget(
            stable_service=ref.stable_service,
            canary_service=ref.canary_service,
            canary_active=moment.canary is not None,
            canary_weight=moment.weight,
            owner=owner,
            routing=moment.routing,
        )
        select(ref.stable_service, moment.stable)
        canary_service = live[ref.canary_service]
        if moment.canary and gateway_services.selected_version(canary_service) != moment.canary:
            if gateway_routes.sends_to_canary(live["route"], target):
                drained = GatewayTarget(ref.stable_service, ref.canary_service, False, 0, owner)
                patch("route", gateway_routes.plan_http_route(live["route"], drained).operations)
            select(ref.canary_service, moment.canary)
        plan = gateway_routes.plan_http_route(live["route"], target)
        assert plan.problems == []
        patch("route", plan.operations)
        seen.append(dict(live))
    return seen, checked


def test_every_path_our_patches_change_is_ignored() -> None:
    checked = 0
    for rollout, ref in gateway_rollouts():
        assert route_expressions(ref.name), f"no ignoreDifferences for HTTPRoute {ref.name}"
        _, count = walk(rollout, ref, example_objects("HTTPRoute")[ref.name])
        checked += count
    assert checked > 10


def test_the_walk_goes_through_every_kind_of_change() -> None:
    """The lifecycle does reach the header rule, the mirror filter, the canary backendRef
    and both Services' moves, so the checks above cover each."""
    for rollout, ref in gateway_rollouts():
        states, _ = walk(rollout, ref, example_objects("HTTPRoute")[ref.name])
        rules = [rule for state in states for rule in state["route"]["spec"]["rules"]]
        assert any(rule.get("name", "").startswith("canary-header.") for rule in rules)
        assert any(
            entry["type"] == "RequestMirror" for rule in rules for entry in rule.get("filters", [])
        )
        assert any(len(rule["backendRefs"]) == 2 for rule in rules)
        versions = {
            (name, gateway_services.selected_version(state[name]))
            for state in states
            for name in (ref.stable_service, ref.canary_service)
        }
        assert {(ref.stable_service, "v2"), (ref.canary_service, "v3")} <= versions


def test_argo_cd_sees_no_difference_at_any_step() -> None:
    for rollout, ref in gateway_rollouts():
        desired = {
            "route": example_objects("HTTPRoute")[ref.name],
            **{
                name: example_objects("Service")[name]
                for name in (ref.stable_service, ref.canary_service)
            },
        }
        expressions = {
            "route": route_expressions(ref.name),
            ref.stable_service: service_expressions(ref.stable_service),
            ref.canary_service: service_expressions(ref.canary_service),
        }
        states, _ = walk(rollout, ref, desired["route"], check_paths=False)
        for state in states:
            for key, obj in state.items():
                assert normalized(obj, expressions[key]) == normalized(
                    desired[key], expressions[key]
                ), key


def test_a_filter_of_your_own_on_a_managed_rule_is_still_synced() -> None:
    """Beside the mirror filter the controller adds, a filter of the user's on the same
    rule stays compared: only the mirror is ignored, not the list."""
    for rollout, ref in gateway_rollouts():
        desired = copy.deepcopy(example_objects("HTTPRoute")[ref.name])
        weighted = gateway_routes.weighted_rules(
            desired["spec"]["rules"],
            GatewayTarget(ref.stable_service, ref.canary_service, False, 0, "shop.x"),
        )
        own = {
            "type": "RequestHeaderModifier",
            "requestHeaderModifier": {"add": [{"name": "x-shop", "value": "1"}]},
        }
        for index in weighted:
            desired["spec"]["rules"][index]["filters"] = [own]
        expressions = route_expressions(ref.name)
        states, _ = walk(rollout, ref, desired, check_paths=False)
        mirrored = 0
        for state in states:
            route = state["route"]
            assert normalized(route, expressions) == normalized(desired, expressions)
            for rule in normalized(route, expressions)["spec"]["rules"]:
                if rule.get("name", "").startswith("canary-header."):
                    continue
                if "backendRefs" not in rule:  # a weighted rule: its filters stay compared
                    assert rule["filters"] == [own]
            mirrored += sum(len(rule.get("filters", [])) == 2 for rule in route["spec"]["rules"])
        assert mirrored, "the mirror was added beside the user's filter"
        changed = copy.deepcopy(desired)
        changed["spec"]["rules"][weighted[0]]["filters"][0]["requestHeaderModifier"]["add"][0][
            "value"
        ] = "2"
        assert normalized(changed, expressions) != normalized(desired, expressions)


def test_what_we_do_not_manage_is_still_synced() -> None:
    for rollout, ref in gateway_rollouts():
        route = example_objects("HTTPRoute")[ref.name]
        rules = route["spec"]["rules"]
        weighted = gateway_routes.weighted_rules(
            rules, GatewayTarget(ref.stable_service, ref.canary_service, False, 0, "shop.x")
        )
        others = [index for index in range(len(rules)) if index not in weighted]
        assert others, "the example HTTPRoute has a rule the rollout does not manage"
        states, _ = walk(rollout, ref, route, check_paths=False)
        for state in [{"route": route}, *states]:
            live_rules = state["route"]["spec"]["rules"]
            ignored = ignored_pointers(state["route"], route_expressions(ref.name))
            for index, rule in enumerate(live_rules):
                at = f"/spec/rules/{index}"
                if rule.get("name", "").startswith("canary-header."):
                    continue
                for key in rule:
                    if key not in ("backendRefs", "filters"):
                        assert not covered(f"{at}/{key}", ignored), (at, key)
                if not gateway_routes.weighted_rules(
                    [rule],
                    GatewayTarget(ref.stable_service, ref.canary_service, False, 0, "shop.x"),
                ):
                    assert not covered(at, ignored) and not any(
                        p.startswith(at + "/") for p in ignored
                    ), at
        for name in (ref.stable_service, ref.canary_service):
            service = example_objects("Service")[name]
            assert ignored_pointers(service, service_expressions(name)) == {
                "/spec/selector/version"
            }
