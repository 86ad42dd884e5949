"""Fixtures for the embedded stack: demo services, a real Envoy and the local API server.

Each is stopped after the test that used it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rollout_local.demo.service import DemoService
from rollout_local.processes.envoy_proxy import EnvoyProxy


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
