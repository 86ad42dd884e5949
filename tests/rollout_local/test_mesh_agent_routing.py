"""Header routes, mirroring and sticky sessions, from the Istio router to the real Envoy.

Inputs: the product's ``IstioRouter`` writes a ``Routing`` into a VirtualService through the
API server, the mesh agent translates it, and real requests go through Envoy to the two
demo versions. Outputs: the version that answered each request (``X-Version``), the
cookies it set, the requests the canary served (mirrored ones included), and the routes
Envoy holds after the promotion.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from typing import Any

import pytest

from rollout.effects import SetWeights
from rollout.mesh.istio import IstioRouter
from rollout.spec.routing import HeaderRoute, Routing, SessionAffinity
from rollout_local.demo.service import DemoService
from rollout_local.mesh_agent import ISTIO_GROUP, MeshAgent
from rollout_local.processes.envoy_proxy import EnvoyProxy
from tests.kube_clients import CustomObjects
from tests.rollout_local.istio_objects import (
    NAMESPACE,
    checkout_rollout,
    destination_rule,
    virtual_service,
    weighted_route,
)

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

ROLLOUT = checkout_rollout(
    {
        "host": "checkout",
        "destinationRule": "checkout",
        "virtualServices": [{"name": "checkout", "routes": ["primary"]}],
    }
)
AFFINITY = SessionAffinity(cookie_name="version", max_age="10m")


class Client:
    """Sequential requests through Envoy, as one browser would send them."""

    def __init__(self, proxy: EnvoyProxy) -> None:
        host, _, port = proxy.url.removeprefix("http://").partition(":")
        self._connection = http.client.HTTPConnection(host, int(port), timeout=10)

    def get(self, headers: dict[str, str] | None = None) -> tuple[str, str | None]:
        """The version that answered, and the cookie it set."""
        self._connection.request("GET", "/", headers={"Host": "checkout", **(headers or {})})
        response = self._connection.getresponse()
        response.read()
        assert response.status == 200, response.status
        cookie = response.getheader("Set-Cookie")
        return str(response.getheader("X-Version")), cookie.split(";")[0] if cookie else None

    def close(self) -> None:
        self._connection.close()


def eventually(check: Callable[[], bool], *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.0f}s")
        time.sleep(0.02)


def envoy_routes(proxy: EnvoyProxy) -> list[str]:
    return list(proxy.route_weights())


@pytest.fixture
def router(agent: MeshAgent, istio: CustomObjects, api_client: Any) -> IstioRouter:
    istio.create_namespaced_custom_object(
        ISTIO_GROUP, "v1", NAMESPACE, "destinationrules", destination_rule("v1", "v2")
    )
    istio.create_namespaced_custom_object(
        ISTIO_GROUP,
        "v1",
        NAMESPACE,
        "virtualservices",
        virtual_service(weighted_route("primary", ("v1", 100))),
    )
    return IstioRouter(api_client)


def apply(router: IstioRouter, proxy: EnvoyProxy, weights: SetWeights, routes: int) -> None:
    """Set the weights and wait until Envoy holds ``routes`` routes with them."""
    router.set_weights(ROLLOUT, weights)
    canary = weights.canary_version

    def applied() -> bool:
        found = proxy.route_weights()
        primary = found.get("primary", {})
        shares = {name.split("|")[2]: weight for name, weight in primary.items()}
        wanted = {weights.stable_version: 100 - weights.canary_weight}
        if canary is not None and len(primary) > 1:
            wanted[canary] = weights.canary_weight
        return len(found) == routes and shares == wanted

    eventually(applied)


def test_a_header_route_sends_exactly_the_matching_requests_to_the_canary(
    router: IstioRouter, envoy_proxy: EnvoyProxy, canary: DemoService
) -> None:
    header = HeaderRoute.model_validate({"headers": {"x-canary": {"exact": "always"}}})
    apply(router, envoy_proxy, SetWeights("v1", "v2", 0, routing=Routing(header)), routes=2)
    client = Client(envoy_proxy)
    try:
        tagged = [client.get({"x-canary": "always"})[0] for _ in range(200)]
        others = [client.get({"x-canary": "never"})[0] for _ in range(200)]
    finally:
        client.close()
    assert tagged == ["v2"] * 200, "every request with the header reached the canary"
    assert others == ["v1"] * 200, "the others stay on stable at weight 0"

    apply(router, envoy_proxy, SetWeights("v2", None, 0), routes=1)  # promotion
    assert envoy_routes(envoy_proxy) == ["primary"], "the header route is gone"


def test_mirrored_requests_reach_the_canary_and_no_client_sees_its_answer(
    router: IstioRouter, envoy_proxy: EnvoyProxy, canary: DemoService
) -> None:
    apply(router, envoy_proxy, SetWeights("v1", "v2", 0, routing=Routing(mirror_percent=30)), 1)
    requests = 2_000
    client = Client(envoy_proxy)
    try:
        answered = [client.get()[0] for _ in range(requests)]
    finally:
        client.close()
    assert answered == ["v1"] * requests
    # Envoy draws each request into the mirror independently with p = 0.3: binomial, sd
    # sqrt(2000 * 0.3 * 0.7) = 20.5; six of them (123) still tell 30% from 20% or 40%.
    low, high = 600 - 123, 600 + 123
    eventually(lambda: canary.served >= low)  # mirrored requests are sent asynchronously
    time.sleep(0.5)
    assert low <= canary.served <= high, canary.served

    apply(router, envoy_proxy, SetWeights("v1", None, 0), routes=1)  # rollback
    served = canary.served
    client = Client(envoy_proxy)
    try:
        assert {client.get()[0] for _ in range(200)} == {"v1"}
    finally:
        client.close()
    assert canary.served == served, "no mirror after the rollback"


def test_sticky_sessions_keep_every_user_on_one_version_as_weights_rise(
    router: IstioRouter, envoy_proxy: EnvoyProxy
) -> None:
    users: dict[int, str] = {}
    cookies: dict[int, str] = {}
    seen: dict[int, set[str]] = {}
    client = Client(envoy_proxy)
    try:
        for weight in (20, 50, 90):
            routing = Routing(affinity=AFFINITY)
            apply(router, envoy_proxy, SetWeights("v1", "v2", weight, routing=routing), 3)
            for user in range(len(users), len(users) + 100):  # new users arrive at each step
                version, cookie = client.get()
                assert cookie == f"version={version}"
                users[user], cookies[user] = version, cookie
            for user, cookie in cookies.items():  # every user comes back with the cookie
                for _ in range(3):
                    version, _ = client.get({"Cookie": f"theme=dark; {cookie}"})
                    seen.setdefault(user, set()).add(version)
    finally:
        client.close()
    flips = [user for user, versions in seen.items() if versions != {users[user]}]
    assert flips == []
    first = list(users.values())
    # 300 first requests at 20/50/90%: both versions are given out, by weight
    assert "v1" in first[:100] and "v2" in first[200:]
    assert first[200:].count("v2") > first[:100].count("v2")
    apply(router, envoy_proxy, SetWeights("v2", None, 0), routes=1)
    assert envoy_routes(envoy_proxy) == ["primary"]
