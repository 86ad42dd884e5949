"""The Gateway API router through the API server: HTTPRoutes patched, whole objects compared.

Inputs: two identical HTTPRoutes created through the API server ("checkout", which the
routing rollout manages, and "plain", which a weights-only rollout manages), both with a
rule of the user's to another Service, a weighted rule with a filter of the user's, and
``SetWeights`` effects with and without a ``Routing``. Outputs: both objects read back as a
whole. "checkout" differs from "plain" only by our header rule and mirror filter; after
promotion and rollback the two are equal and equal to the user's object with the stable
weight set, so the managed paths left cleanly. Also: the problems reported, with nothing
written, when a rule sends to a Service we do not manage, and no patch when in place.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.effects import SetWeights
from rollout.errors import Conflict, TrafficConfigError
from rollout.mesh.combined import CombinedRouter
from rollout.mesh.gateway import GATEWAY_GROUP, GatewayRouter
from rollout.mesh.gateway_routes import header_rule_name
from rollout.mesh.istio import IstioRouter
from rollout.spec.routing import HeaderRoute, Routing
from tests.mesh.gateway_objects import Routes, gateway_rollout, selector_version
from tests.mesh.objects import NAMESPACE, http_route

pytestmark = pytest.mark.cluster

JsonObject = dict[str, Any]
HEADER = HeaderRoute.model_validate({"headers": {"x-canary": {"exact": "always"}}})


def test_weights_header_rule_and_mirror_touch_only_our_paths_and_leave_at_the_end(
    routes: Routes, api_client: Any
) -> None:
    router = CombinedRouter(IstioRouter(api_client), GatewayRouter(api_client))
    ours, plain = gateway_rollout("checkout"), gateway_rollout("plain")
    assert router.check(ours, "v1", "v2") == []
    routing = Routing(header_route=HEADER, mirror_percent=25)
    for weight in (0, 10, 50):
        router.set_weights(ours, SetWeights("v1", "v2", weight, routing=routing))
        router.set_weights(plain, SetWeights("v1", "v2", weight))
        checkout, untouched = routes.read("checkout"), routes.read("plain")
        assert checkout["metadata"]["labels"] == untouched["metadata"]["labels"]
        spec = copy.deepcopy(checkout["spec"])
        header = spec["rules"].pop(1)
        assert header["name"] == header_rule_name(f"{NAMESPACE}.checkout")
        assert header["backendRefs"] == [{"name": "checkout-canary", "port": 80}]
        mirror = spec["rules"][1]["filters"].pop()
        assert mirror["requestMirror"] == {
            "backendRef": {"name": "checkout-canary", "port": 80},
            "percent": 25,
        }
        assert spec == untouched["spec"]
        assert [ref["weight"] for ref in spec["rules"][1]["backendRefs"]] == [100 - weight, weight]
    before = routes.read("checkout")["metadata"]["resourceVersion"]
    router.set_weights(ours, SetWeights("v1", "v2", 50, routing=routing))
    assert routes.read("checkout")["metadata"]["resourceVersion"] == before
    user = http_route("any")["spec"]
    user["rules"][1]["backendRefs"][0]["weight"] = 100
    for stable in ("v2", "v1"):  # promotion, then a rollback of the next version
        router.set_weights(ours, SetWeights(stable, None, 0))
        router.set_weights(plain, SetWeights(stable, None, 0))
        assert routes.read("checkout")["spec"] == user
        assert routes.read("plain")["spec"] == user
        router.set_weights(ours, SetWeights(stable, "v3", 20, routing=routing))


def test_a_rule_to_a_service_we_do_not_manage_is_reported_and_nothing_written(
    routes: Routes, api_client: Any
) -> None:
    router = GatewayRouter(api_client)
    broken = routes.read("checkout")
    broken["spec"]["rules"][1]["backendRefs"].append({"name": "legacy", "port": 80})
    routes.objects.replace_namespaced_custom_object(
        GATEWAY_GROUP, "v1", NAMESPACE, "httproutes", "checkout", broken
    )
    before = routes.read("checkout")
    with pytest.raises(TrafficConfigError, match="rule 1 also sends to legacy"):
        router.set_weights(gateway_rollout("checkout"), SetWeights("v1", "v2", 10))
    assert routes.read("checkout") == before
    assert router.check(gateway_rollout("missing"), "v1", "v2") == [
        f"HTTPRoute {NAMESPACE}/missing not found"
    ]


def test_a_writer_racing_the_patch_is_kept_and_the_retry_gives_up_at_its_deadline(
    routes: Routes, api_client: Any
) -> None:
    """Each read is followed by another writer's edit of the user's filter, so every
    planned patch is refused by its ``test`` op: the router re-reads and plans again, and
    gives up with ``Conflict`` once its deadline is past, the other writer's edit kept."""
    sleeps: list[float] = []
    edits = [0]
    router = GatewayRouter(api_client, retry_deadline=0.0, sleep=sleeps.append)
    real_read = router._read

    def read_then_edit(namespace: str, name: str) -> JsonObject:
        found = real_read(namespace, name)
        edits[0] += 1
        routes.objects.patch_namespaced_custom_object(
            GATEWAY_GROUP,
            "v1",
            NAMESPACE,
            "httproutes",
            name,
            [
                {
                    "op": "replace",
                    "path": "/spec/rules/1/filters/0/requestHeaderModifier/set/0/value",
                    "value": f"edit {edits[0]}",
                }
            ],
            _content_type="application/json-patch+json",
        )
        return found

    router._read = read_then_edit  # type: ignore[method-assign]
    with pytest.raises(
        Conflict,
        match=r"HTTPRoute .*/checkout kept changing while its weights were set \(1 attempts\)",
    ):
        router.set_weights(gateway_rollout("checkout"), SetWeights("v1", "v2", 10))
    after = routes.read("checkout")
    assert after["spec"]["rules"][1]["backendRefs"] == [{"name": "checkout-primary", "port": 80}]
    assert (
        after["spec"]["rules"][1]["filters"][0]["requestHeaderModifier"]["set"][0]["value"]
        == f"edit {edits[0]}"
    ), "the other writer's last edit is kept"
    assert len(sleeps) == 0 and router.conflicts_seen == 1

    patient = GatewayRouter(api_client, sleep=sleeps.append)
    real_patient_read = patient._read

    def edit_until_a_conflict(namespace: str, name: str) -> JsonObject:
        found = real_patient_read(namespace, name)
        if patient.conflicts_seen == 0:
            read_then_edit(namespace, name)
        return found

    patient._read = edit_until_a_conflict  # type: ignore[method-assign]
    patient.set_weights(gateway_rollout("checkout"), SetWeights("v1", "v2", 10))
    after = routes.read("checkout")
    assert [ref["weight"] for ref in after["spec"]["rules"][1]["backendRefs"]] == [90, 10]
    assert patient.conflicts_seen == 1 and len(sleeps) == 1


def test_the_services_follow_the_versions_and_only_their_selector_changes(
    routes: Routes, api_client: Any
) -> None:
    router = GatewayRouter(api_client)
    rollout = gateway_rollout("checkout")
    before = {name: routes.service(name) for name in ("checkout-primary", "checkout-canary")}
    router.set_weights(rollout, SetWeights("v1", "v2", 10))
    primary, canary = routes.service("checkout-primary"), routes.service("checkout-canary")
    assert (selector_version(primary), selector_version(canary)) == ("v1", "v2")
    assert primary == before["checkout-primary"]
    changed, original = copy.deepcopy(canary), copy.deepcopy(before["checkout-canary"])
    for body in (changed, original):
        body["metadata"].pop("resourceVersion")
        body["metadata"].pop("managedFields", None)
        body["spec"]["selector"].pop("version")
    assert changed == original
    router.set_weights(rollout, SetWeights("v2", None, 0))  # promotion
    assert selector_version(routes.service("checkout-primary")) == "v2"
    assert selector_version(routes.service("checkout-canary")) == "v2"
    assert routes.read("checkout")["spec"]["rules"][1]["backendRefs"] == [
        {"name": "checkout-primary", "port": 80, "weight": 100}
    ]


def test_at_promotion_the_stable_service_moves_before_the_route_and_a_new_canary_after_a_drain(
    routes: Routes, api_client: Any, apiserver: Any
) -> None:
    """Promotion: the stable Service selects v2 before the HTTPRoute sends it all traffic
    (until then the canary Service, on v2, has it). A new canary while the canary Service
    still carries the last one: the HTTPRoute stops sending to it first, then the Service
    moves, then the new weight is set; so v3 never gets v2's share."""
    router = GatewayRouter(api_client)
    rollout = gateway_rollout("checkout")
    router.set_weights(rollout, SetWeights("v1", "v2", 100))
    apiserver.clear_requests()
    router.set_weights(rollout, SetWeights("v2", None, 0))
    writes = [(r.resource, r.name) for r in apiserver.requests if r.verb == "patch"]
    assert writes == [("services", "checkout-primary"), ("httproutes", "checkout")]

    router.set_weights(rollout, SetWeights("v2", "v3", 30))
    router.set_weights(rollout, SetWeights("v2", "v4", 10))  # v4 pushed while v3 had 30%
    apiserver.clear_requests()
    router.set_weights(rollout, SetWeights("v2", "v5", 10))
    writes = [(r.resource, r.name) for r in apiserver.requests if r.verb == "patch"]
    assert writes == [
        ("httproutes", "checkout"),
        ("services", "checkout-canary"),
        ("httproutes", "checkout"),
    ]
    assert selector_version(routes.service("checkout-canary")) == "v5"
    weights = [ref["weight"] for ref in routes.read("checkout")["spec"]["rules"][1]["backendRefs"]]
    assert weights == [90, 10]


def test_a_service_without_selector_is_reported_and_nothing_written(
    routes: Routes, api_client: Any
) -> None:
    routes.core.patch_namespaced_service(
        "checkout-canary",
        NAMESPACE,
        [{"op": "remove", "path": "/spec/selector"}],
        _content_type="application/json-patch+json",
    )
    before = routes.read("checkout")
    router = GatewayRouter(api_client)
    message = f"Service {NAMESPACE}/checkout-canary has no selector"
    with pytest.raises(TrafficConfigError, match=message):
        router.set_weights(gateway_rollout("checkout"), SetWeights("v1", "v2", 10))
    assert routes.read("checkout") == before
    assert selector_version(routes.service("checkout-primary")) == "v1"
    assert router.check(gateway_rollout("checkout"), "v1", "v2") == [
        f"{message}: its endpoints cannot be moved to a version"
    ]
