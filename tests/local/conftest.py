"""Fixtures for the embedded data plane: demo services and a real Envoy, each stopped after use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rollout.local.demo_service import DemoService
from rollout.local.envoy import EnvoyProxy


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
