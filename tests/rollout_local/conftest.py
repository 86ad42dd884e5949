"""Fixtures for the embedded stack: demo services, a real Envoy, the local API server with
the demo namespace, and the mesh agent between them.

Each is stopped after the test that used it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from rollout_local.demo.service import DemoService
from rollout_local.mesh_agent import MeshAgent
from rollout_local.processes.envoy_proxy import EnvoyProxy
from tests.kube_clients import CustomObjects, custom_objects
from tests.rollout_local.istio_objects import HOST, NAMESPACE


@pytest.fixture
def stable() -> Iterator[DemoService]:
    """``checkout`` version v1, healthy and fast."""
    with DemoService(name="checkout", version="v1", seed=1) as service:
        yield service


@pytest.fixture
def canary() -> Iterator[DemoService]:
    """``checkout`` version v2, healthy and fast until a test reconfigures it."""
    with DemoService(name="checkout", version="v2", seed=2) as service:
        yield service


@pytest.fixture
def envoy_proxy() -> Iterator[EnvoyProxy]:
    """A running Envoy with an empty route table."""
    with EnvoyProxy() as proxy:
        yield proxy


@pytest.fixture
def istio(api_client: client.ApiClient) -> CustomObjects:
    """Istio objects through the API, in the demo namespace (created here)."""
    client.CoreV1Api(api_client).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
    )
    return custom_objects(api_client)


@pytest.fixture
def agent(
    kubeconfig: Path,
    istio: CustomObjects,
    envoy_proxy: EnvoyProxy,
    stable: DemoService,
    canary: DemoService,
) -> Iterator[MeshAgent]:
    """The mesh agent configuring ``envoy_proxy``, v1 and v2 of checkout as backends."""
    backends = {(HOST, "v1"): stable.address, (HOST, "v2"): canary.address}
    with MeshAgent(proxy=envoy_proxy, kubeconfig=kubeconfig, backends=backends) as running:
        yield running
