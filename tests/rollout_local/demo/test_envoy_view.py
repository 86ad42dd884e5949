"""What the demo reads from Envoy: applied weights and per-version request counters.

Inputs: the real Envoy routing 75/25 between two demo services, and requests sent through
it. Outputs: ``EnvoyView`` weights keyed by version, counters that match what each service
served, and ``Reading.between`` deltas (including a counter that restarted).
"""

from __future__ import annotations

import http.client

from rollout_local.demo.envoy_view import EnvoyView, Reading
from rollout_local.demo.service import Behaviour, DemoService
from rollout_local.processes import envoy_config
from rollout_local.processes.envoy_proxy import EnvoyProxy
from tests.rollout_local.istio_objects import (
    HOST,
    destination_rule,
    virtual_service,
    weighted_route,
)


def send(proxy: EnvoyProxy, count: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    try:
        for _ in range(count):
            connection.request("GET", "/", headers={"Host": "checkout"})
            connection.getresponse().read()
    finally:
        connection.close()


def test_weights_and_counts_are_read_per_version(
    stable: DemoService, canary: DemoService, envoy_proxy: EnvoyProxy
) -> None:
    canary.configure(Behaviour(error_rate=1.0))
    resources = envoy_config.translate(
        [virtual_service(weighted_route("primary", ("v1", 75), ("v2", 25)))],
        [destination_rule("v1", "v2")],
        {(HOST, "v1"): stable.address, (HOST, "v2"): canary.address},
    )
    envoy_proxy.update(resources.routes, resources.clusters)
    view = EnvoyView(envoy_proxy, host=HOST)
    before = view.read()
    assert before.weights == {"v1": 75, "v2": 25}
    assert before.settled
    send(envoy_proxy, 80)
    after = view.read()
    delta = after.between(before)
    assert delta.requests == {"v1": stable.served, "v2": canary.served}
    assert delta.total == 80
    assert delta.errors.get("v2", 0) == canary.served
    assert delta.error_rate("v2") == 100.0
    assert delta.share("v1") == 100.0 * stable.served / 80


def test_a_restarted_counter_counts_from_zero() -> None:
    earlier = Reading(at=0.0, weights={}, requests={"v1": 500, "v2": 40}, errors={})
    later = Reading(at=1.0, weights={}, requests={"v1": 520, "v2": 7}, errors={"v2": 1})
    delta = later.between(earlier)
    assert delta.requests == {"v1": 20, "v2": 7}
    assert delta.errors == {"v2": 1}
    assert delta.share("v3") == 0.0
    assert delta.error_rate("v3") is None
