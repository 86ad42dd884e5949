"""The mesh agent: Istio objects changed through the Kubernetes API reach the real Envoy.

Inputs are VirtualServices and DestinationRules created, patched (JSON patch on a weight,
as the controller does) and deleted through the official client against the local API
server; outputs are the weights Envoy reports in its config dump, the traffic each demo
version then serves, and a watch that survives the server expiring its resourceVersion.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kubelite import LocalApiServer
from rollout.errors import ClusterError
from rollout_local.demo.service import DemoService
from rollout_local.loadgen import LoadGenerator
from rollout_local.mesh_agent import ISTIO_GROUP, MeshAgent
from rollout_local.processes import envoy_config
from rollout_local.processes.envoy_proxy import EnvoyProxy
from tests.kube_clients import CustomObjects, custom_objects, new_api_client
from tests.rollout_local.istio_objects import (
    HOST,
    NAMESPACE,
    destination_rule,
    virtual_service,
    weighted_route,
)

pytestmark = pytest.mark.slow

V1 = envoy_config.cluster_name(HOST, "v1")
V2 = envoy_config.cluster_name(HOST, "v2")


def canary_weight_is(proxy: EnvoyProxy, weight: int) -> Callable[[], bool]:
    """Whether Envoy applies ``weight`` to v2 on the primary route, asked when called."""
    return lambda: proxy.route_weights()["primary"][V2] == weight


def eventually(check: Callable[[], bool], *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.0f}s")
        time.sleep(0.02)


def create(api: CustomObjects, plural: str, body: dict[str, Any]) -> None:
    api.create_namespaced_custom_object(ISTIO_GROUP, "v1", NAMESPACE, plural, body)


def set_weights(api: CustomObjects, v1: int, v2: int) -> None:
    """The controller's way: a JSON patch on the weight paths only."""
    patch = [
        {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": v1},
        {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": v2},
    ]
    api.patch_namespaced_custom_object(
        ISTIO_GROUP,
        "v1",
        NAMESPACE,
        "virtualservices",
        "checkout",
        patch,
        _content_type="application/json-patch+json",
    )


def test_objects_created_and_patched_through_the_api_reach_envoy(
    agent: MeshAgent,
    istio: CustomObjects,
    envoy_proxy: EnvoyProxy,
    stable: DemoService,
    canary: DemoService,
) -> None:
    assert envoy_proxy.route_weights() == {}
    create(istio, "destinationrules", destination_rule("v1", "v2"))
    create(
        istio,
        "virtualservices",
        virtual_service(weighted_route("primary", ("v1", 100), ("v2", 0))),
    )
    eventually(lambda: envoy_proxy.route_weights() == {"primary": {V1: 100, V2: 0}})

    started = time.monotonic()
    set_weights(istio, 80, 20)
    eventually(lambda: envoy_proxy.route_weights() == {"primary": {V1: 80, V2: 20}})
    assert time.monotonic() - started < 2.0

    report = LoadGenerator(url=envoy_proxy.url, host="checkout", rate=1_000).run(
        requests=1_000, duration=10
    )
    assert report.by_status == {200: 1_000}
    # 1,000 draws at 20%: the binomial standard deviation is 12.6, so 6 sigma is 76. The
    # band still tells 80/20 apart from 100/0 and from 50/50.
    assert abs(canary.served - 200) <= 76
    assert stable.served + canary.served == 1_000

    set_weights(istio, 0, 100)
    eventually(lambda: envoy_proxy.route_weights() == {"primary": {V1: 0, V2: 100}})
    istio.delete_namespaced_custom_object(
        ISTIO_GROUP, "v1", NAMESPACE, "virtualservices", "checkout"
    )
    eventually(lambda: envoy_proxy.route_weights() == {})
    assert agent.last_error is None


def test_existing_objects_are_applied_before_start_returns(
    kubeconfig: Path,
    istio: CustomObjects,
    envoy_proxy: EnvoyProxy,
    stable: DemoService,
    canary: DemoService,
) -> None:
    create(istio, "destinationrules", destination_rule("v1", "v2"))
    create(
        istio, "virtualservices", virtual_service(weighted_route("primary", ("v1", 50), ("v2", 50)))
    )
    with MeshAgent(proxy=envoy_proxy, kubeconfig=kubeconfig) as agent:
        # No backend known yet: the route has nowhere to go.
        assert envoy_proxy.route_weights() == {"primary": {}}
        assert any("no backend address" in warning for warning in agent.warnings)
        agent.set_backend(HOST, "v1", stable.address)
        agent.set_backend(HOST, "v2", canary.address)
        assert envoy_proxy.route_weights() == {"primary": {V1: 50, V2: 50}}
        assert agent.warnings == []
        threads = [t for t in threading.enumerate() if t.name.startswith("mesh-agent-")]
        assert len(threads) == 2
    assert not any(t.is_alive() for t in threads)


def test_the_watch_lists_again_when_its_resource_version_expires(
    tmp_path: Path, envoy_proxy: EnvoyProxy, stable: DemoService, canary: DemoService
) -> None:
    backends = {(HOST, "v1"): stable.address, (HOST, "v2"): canary.address}
    # No watch history at all: every change expires the agent's resourceVersion, so each
    # one reaches Envoy only through the 410 Gone -> list again -> watch path.
    with LocalApiServer(history_limit=0) as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
        api_client = new_api_client(kubeconfig)
        try:
            client.CoreV1Api(api_client).create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
            )
            istio = custom_objects(api_client)
            create(istio, "destinationrules", destination_rule("v1", "v2"))
            create(
                istio,
                "virtualservices",
                virtual_service(weighted_route("primary", ("v1", 90), ("v2", 10))),
            )
            with MeshAgent(proxy=envoy_proxy, kubeconfig=kubeconfig, backends=backends) as agent:
                lists_before = _lists_of_virtual_services(server)
                for v2 in (20, 30, 40):
                    set_weights(istio, 100 - v2, v2)
                    eventually(canary_weight_is(envoy_proxy, v2))
                assert _lists_of_virtual_services(server) >= lists_before + 3
                assert agent.last_error is None
        finally:
            api_client.close()


def _lists_of_virtual_services(server: LocalApiServer) -> int:
    return sum(
        1
        for record in server.requests
        if record.resource == "virtualservices" and record.verb == "list"
    )


def test_the_watch_resumes_from_its_last_resource_version(
    kubeconfig: Path,
    istio: CustomObjects,
    envoy_proxy: EnvoyProxy,
    stable: DemoService,
    canary: DemoService,
    apiserver: LocalApiServer,
) -> None:
    backends = {(HOST, "v1"): stable.address, (HOST, "v2"): canary.address}
    create(istio, "destinationrules", destination_rule("v1", "v2"))
    create(
        istio, "virtualservices", virtual_service(weighted_route("primary", ("v1", 90), ("v2", 10)))
    )
    # One-second watches end often; each is resumed from the last version, without a list.
    with MeshAgent(
        proxy=envoy_proxy, kubeconfig=kubeconfig, backends=backends, watch_timeout=1
    ) as agent:
        for v2 in (20, 30):
            time.sleep(1.2)
            set_weights(istio, 100 - v2, v2)
            eventually(canary_weight_is(envoy_proxy, v2))
        assert _lists_of_virtual_services(apiserver) == 1
        watches = [
            r for r in apiserver.requests if r.resource == "virtualservices" and r.verb == "watch"
        ]
        assert len(watches) >= 2  # the log records a watch when it ends
        assert agent.last_error is None


def test_an_unreachable_api_server_is_reported_as_a_cluster_error(
    envoy_proxy: EnvoyProxy, tmp_path: Path
) -> None:
    server = LocalApiServer().start()
    path = server.write_kubeconfig(tmp_path / "kubeconfig")
    server.stop()
    with pytest.raises(ClusterError, match="cannot list"):
        MeshAgent(proxy=envoy_proxy, kubeconfig=path).start()
