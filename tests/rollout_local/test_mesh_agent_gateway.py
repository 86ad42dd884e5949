"""An HTTPRoute and its Services, from the Gateway API router to the real Envoy.

Inputs: the product's ``GatewayRouter`` moves the weights of an HTTPRoute and points its
two Services at versions through the API server; the mesh agent, watching HTTPRoutes and
Services, configures a real Envoy; requests go through it to the two demo versions.
Outputs: the weights Envoy applies, by version, and the version that answered each
request (``X-Version``), at a canary weight and after the promotion.

The canary share at 30% over 600 requests has a standard deviation of 1.9 points
(binomial, Envoy draws each request), so the 8 points allowed are over four of them.
"""

from __future__ import annotations

import collections
import http.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from rollout.effects import SetWeights
from rollout.mesh.gateway import GATEWAY_GROUP, GatewayRouter
from rollout_local.demo.service import DemoService
from rollout_local.mesh_agent import MeshAgent
from rollout_local.processes.envoy_proxy import EnvoyProxy
from tests.e2e.world import wait_for
from tests.kube_clients import CustomObjects, as_body
from tests.rollout_local.istio_objects import HOST, NAMESPACE, checkout_rollout

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

ROLLOUT = checkout_rollout(
    {
        "host": HOST,
        "httpRoutes": [
            {
                "name": "checkout",
                "stableService": "checkout-primary",
                "canaryService": "checkout-canary",
            }
        ],
    }
)


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "selector": {"app": "checkout", "version": "v1"},
            "ports": [{"port": 80, "targetPort": 8080}],
        },
    }


HTTP_ROUTE = {
    "apiVersion": f"{GATEWAY_GROUP}/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "checkout", "namespace": NAMESPACE},
    "spec": {
        "parentRefs": [{"name": "demo-gateway"}],
        "hostnames": ["checkout"],
        "rules": [
            {
                "name": "primary",
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"name": "checkout-primary", "port": 80}],
            }
        ],
    },
}


@pytest.fixture
def gateway_agent(
    kubeconfig: Path,
    istio: CustomObjects,
    api_client: client.ApiClient,
    envoy_proxy: EnvoyProxy,
    stable: DemoService,
    canary: DemoService,
) -> Iterator[MeshAgent]:
    """The HTTPRoute and its Services created, the agent watching them with Envoy."""
    core = client.CoreV1Api(api_client)
    for name in ("checkout-primary", "checkout-canary"):
        core.create_namespaced_service(NAMESPACE, as_body(service(name)))
    istio.create_namespaced_custom_object(GATEWAY_GROUP, "v1", NAMESPACE, "httproutes", HTTP_ROUTE)
    backends = {(HOST, "v1"): stable.address, (HOST, "v2"): canary.address}
    with MeshAgent(
        proxy=envoy_proxy, kubeconfig=kubeconfig, backends=backends, gateway_api=True
    ) as running:
        yield running


def envoy_split(proxy: EnvoyProxy) -> dict[str, int]:
    """Version -> weight of Envoy's route ``primary`` (the HTTPRoute's rule)."""
    primary = proxy.route_weights().get("primary", {})
    return {name.split("|")[2]: weight for name, weight in primary.items()}


def answers(proxy: EnvoyProxy, requests: int) -> collections.Counter[str]:
    host, _, port = proxy.url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    seen: collections.Counter[str] = collections.Counter()
    try:
        for _ in range(requests):
            connection.request("GET", "/", headers={"Host": "checkout"})
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status
            seen[str(response.getheader("X-Version"))] += 1
    finally:
        connection.close()
    return seen


def test_envoy_follows_the_httproute_weights_and_the_services_versions(
    gateway_agent: MeshAgent, envoy_proxy: EnvoyProxy, api_client: client.ApiClient
) -> None:
    router = GatewayRouter(api_client)
    wait_for(lambda: envoy_split(envoy_proxy) == {"v1": 100}, timeout=10, what="v1 at Envoy")
    assert answers(envoy_proxy, 20) == {"v1": 20}

    router.set_weights(ROLLOUT, SetWeights("v1", "v2", 30))
    wait_for(lambda: envoy_split(envoy_proxy) == {"v1": 70, "v2": 30}, timeout=10, what="30%")
    seen = answers(envoy_proxy, 600)
    assert abs(100 * seen["v2"] / 600 - 30) <= 8, seen

    router.set_weights(ROLLOUT, SetWeights("v2", None, 0))  # promotion
    wait_for(lambda: envoy_split(envoy_proxy) == {"v2": 100}, timeout=10, what="v2 at Envoy")
    assert answers(envoy_proxy, 50) == {"v2": 50}
    assert gateway_agent.warnings == []
    assert gateway_agent.last_error is None
