"""The router factory: a name picks the router; the no-op router moves and reports nothing."""

from __future__ import annotations

from typing import Any

import pytest

from rollout.effects import SetWeights
from rollout.errors import RolloutError
from rollout.mesh.combined import CombinedRouter
from rollout.mesh.factory import ROUTERS, new_router
from rollout.mesh.gateway import GatewayRouter
from rollout.mesh.istio import IstioRouter
from rollout.mesh.nop import NopRouter
from tests.rollouts import make_rollout


def test_each_name_picks_its_router(api_client: Any) -> None:
    assert ROUTERS == ("istio", "nop")
    istio = new_router("istio", api_client)
    assert isinstance(istio, CombinedRouter)
    assert isinstance(istio.istio, IstioRouter)
    assert isinstance(istio.gateway, GatewayRouter)
    assert isinstance(new_router("nop", api_client), NopRouter)
    with pytest.raises(RolloutError, match="unknown router 'linkerd': expected one of istio, nop"):
        new_router("linkerd", api_client)


def test_the_nop_router_finds_no_problem_and_reads_no_route() -> None:
    router = NopRouter()
    rollout = make_rollout("v2")
    assert router.check(rollout, "v1", "v2") == []
    router.set_weights(rollout, SetWeights("v1", "v2", 50))
    assert router.read_weights(rollout) == ()
