"""The Istio router's managed routes (header route, mirror, sticky sessions) through the API.

Inputs: the realistic mesh VirtualService of ``tests.mesh.objects`` created twice through the
API server ("checkout", which the routing rollout manages, and "plain", an identical copy a
weights-only rollout manages), and ``SetWeights`` effects with and without a ``Routing``.
Outputs: both objects read back as a whole. With our routes, mirror and cookies taken out,
"checkout" must equal "plain" exactly, so nothing else was touched; after promotion and
rollback they are equal without taking anything out, so the managed routes left cleanly.
Also: the problems reported, with nothing written, when the user's own mirror or
destination headers are in the way, and no patch when everything is in place.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.effects import SetWeights
from rollout.errors import TrafficConfigError
from rollout.mesh.istio import IstioRouter
from rollout.mesh.istio_extras import extra_route_names, set_cookie
from rollout.spec.routing import HeaderRoute, Routing, SessionAffinity
from tests.kube_clients import CustomObjects
from tests.kube_servers import ApiServer
from tests.mesh.objects import (
    FALLBACK,
    HOST,
    ISTIO_GROUP,
    NAMESPACE,
    PRIMARY,
    Create,
    destination_rule,
    make_rollout,
    mesh_virtual_service,
)

pytestmark = pytest.mark.cluster

JsonObject = dict[str, Any]
OWNER = f"{NAMESPACE}.checkout"
HEADER_ROUTE = HeaderRoute.model_validate({"headers": {"x-canary": {"exact": "always"}}})
AFFINITY = SessionAffinity.model_validate({"cookieName": "version", "maxAge": "10m"})


def read_vs(objects: CustomObjects, name: str) -> JsonObject:
    found: JsonObject = objects.get_namespaced_custom_object(
        ISTIO_GROUP, "v1", NAMESPACE, "virtualservices", name
    )
    return found


def without_ours(spec: JsonObject) -> JsonObject:
    """The spec with what the router manages beside the weights taken out."""
    stripped = copy.deepcopy(spec)
    stripped["http"] = [
        route
        for route in stripped["http"]
        if not str(route.get("name", "")).startswith("canary.rollout.dev/")
    ]
    for route in stripped["http"]:
        if (route.get("mirror") or {}).get("host") in (HOST, "checkout"):
            route.pop("mirror")
            route.pop("mirrorPercentage", None)
        for entry in route.get("route") or []:
            cookie = ((entry.get("headers") or {}).get("response") or {}).get("add") or {}
            if str(cookie.get("Set-Cookie", "")).startswith("version="):
                entry.pop("headers")
    return stripped


class Pair:
    """The routing rollout on "checkout" and the weights-only one on "plain", moved alike."""

    def __init__(self, api_client: Any, objects: CustomObjects, routes: list[str]) -> None:
        self.router = IstioRouter(api_client)
        self.objects = objects
        self.ours = make_rollout(virtual_services=[{"name": "checkout", "routes": routes}])
        self.plain = make_rollout(virtual_services=[{"name": "plain", "routes": routes}])

    def set(self, stable: str, canary: str | None, weight: int, routing: Routing | None) -> None:
        self.router.set_weights(self.ours, SetWeights(stable, canary, weight, routing=routing))
        self.router.set_weights(self.plain, SetWeights(stable, canary, weight))

    def specs(self) -> tuple[JsonObject, JsonObject]:
        ours = read_vs(self.objects, "checkout")
        plain = read_vs(self.objects, "plain")
        assert ours["metadata"].get("labels") == plain["metadata"].get("labels")
        return ours["spec"], plain["spec"]


@pytest.fixture
def mesh(create: Create) -> None:
    create(destination_rule("v1", "v2"))
    create(mesh_virtual_service("checkout"))
    create(mesh_virtual_service("plain"))


@pytest.fixture
def pair(mesh: None, api_client: Any, objects: CustomObjects) -> Pair:
    return Pair(api_client, objects, ["primary", "fallback"])


@pytest.fixture
def fallback_pair(mesh: None, api_client: Any, objects: CustomObjects) -> Pair:
    return Pair(api_client, objects, ["fallback"])


def test_a_header_route_goes_ahead_of_the_weighted_route_and_leaves_at_promotion(
    pair: Pair,
) -> None:
    pair.set("v1", "v2", 0, Routing(header_route=HEADER_ROUTE))
    ours, plain = pair.specs()
    header_name, _, _ = extra_route_names(OWNER)
    assert ours["http"][PRIMARY] == {
        "name": header_name,
        "match": [
            {"uri": {"prefix": "/api"}, "headers": {"x-canary": {"exact": "always"}}},
            {"uri": {"exact": "/health"}, "headers": {"x-canary": {"exact": "always"}}},
        ],
        "route": [{"destination": {"host": HOST, "port": {"number": 8080}, "subset": "v2"}}],
    }
    assert ours["http"][PRIMARY + 1]["name"] == "primary", "the weighted route comes next"
    assert without_ours(ours) == plain, "nothing but our route differs"

    pair.set("v1", "v2", 10, Routing())  # the header route removed by a later step
    ours, plain = pair.specs()
    assert ours == plain

    pair.set("v1", "v2", 10, Routing(header_route=HEADER_ROUTE))
    pair.set("v2", None, 0, None)  # promotion
    ours, plain = pair.specs()
    assert ours == plain, "promotion leaves the object as weights alone would"
    assert [route.get("name") for route in ours["http"]] == [
        "canary-header",
        "primary",
        "static",
        "fallback",
    ]


def test_mirror_and_sticky_sessions_on_a_weighted_route_and_rollback(
    fallback_pair: Pair,
) -> None:
    pair = fallback_pair
    routing = Routing(mirror_percent=20, affinity=AFFINITY)
    pair.set("v1", "v2", 10, routing)
    ours, plain = pair.specs()
    _, sticky_canary, sticky_stable = extra_route_names(OWNER)
    fallback = ours["http"][FALLBACK + 2]
    assert fallback["name"] == "fallback"
    assert fallback["mirror"] == {"host": "checkout", "port": {"number": 8080}, "subset": "v2"}
    assert fallback["mirrorPercentage"] == {"value": 20.0}
    cookies = [e["headers"]["response"]["add"]["Set-Cookie"] for e in fallback["route"]]
    assert cookies == [set_cookie(AFFINITY, "v1"), set_cookie(AFFINITY, "v2")]
    assert cookies[1] == "version=v2; Max-Age=600; Path=/"
    sticky = ours["http"][FALLBACK : FALLBACK + 2]
    assert [route["name"] for route in sticky] == [sticky_canary, sticky_stable]
    assert [route["route"][0]["destination"]["subset"] for route in sticky] == ["v2", "v1"]
    assert sticky[0]["match"] == [
        {"headers": {"cookie": {"regex": r"^(.*;\s*)?version=v2(;.*)?$"}}}
    ]
    assert without_ours(ours) == plain, "nothing but our paths differ"

    pair.set("v1", "v2", 50, routing)
    ours, plain = pair.specs()
    assert without_ours(ours) == plain

    pair.set("v1", None, 0, None)  # rollback
    ours, plain = pair.specs()
    assert ours == plain, "rollback leaves the object as weights alone would"
    assert "mirror" not in ours["http"][FALLBACK]


def test_the_users_own_mirror_and_headers_are_reported_and_nothing_is_written(
    pair: Pair,
) -> None:
    before = read_vs(pair.objects, "checkout")
    with pytest.raises(TrafficConfigError) as raised:
        pair.router.set_weights(
            pair.ours, SetWeights("v1", "v2", 10, routing=Routing(mirror_percent=10))
        )
    assert "already mirrors to 'checkout-shadow.shop.svc.cluster.local'" in str(raised.value)
    with pytest.raises(TrafficConfigError) as raised:
        pair.router.set_weights(
            pair.ours, SetWeights("v1", "v2", 10, routing=Routing(affinity=AFFINITY))
        )
    assert "has headers of its own" in str(raised.value)
    after = read_vs(pair.objects, "checkout")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_routes_in_place_send_nothing_and_read_weights_skips_them(
    apiserver: ApiServer, pair: Pair
) -> None:
    routing = Routing(header_route=HEADER_ROUTE)
    pair.set("v1", "v2", 10, routing)
    version = read_vs(pair.objects, "checkout")["metadata"]["resourceVersion"]
    pair.router.set_weights(pair.ours, SetWeights("v1", "v2", 10, routing=routing))
    assert read_vs(pair.objects, "checkout")["metadata"]["resourceVersion"] == version
    weights = pair.router.read_weights(pair.ours)
    assert [dict(w.weights) for w in weights] == [{"v1": 90, "v2": 10}] * 2
    assert [w.route.rsplit(" ", 1)[1] for w in weights] == ["primary", "fallback"]
