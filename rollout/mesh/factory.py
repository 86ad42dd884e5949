"""One place that picks the traffic router by name, as Flagger's ``router/factory.go``.

``istio`` is the Istio router for a rollout's VirtualServices together with the Gateway API
router for its HTTPRoutes (:mod:`rollout.mesh.combined`): the spec picks per route object.
"""

from __future__ import annotations

from typing import Literal, get_args

from kubernetes import client as k8s_client

from rollout.errors import RolloutError
from rollout.mesh.combined import CombinedRouter
from rollout.mesh.gateway import GatewayRouter
from rollout.mesh.istio import IstioRouter
from rollout.mesh.nop import NopRouter
from rollout.ports import Router

__all__ = ["ROUTERS", "RouterName", "new_router"]

RouterName = Literal["istio", "nop"]
ROUTERS: tuple[str, ...] = get_args(RouterName)


def new_router(name: str, api: k8s_client.ApiClient) -> Router:
    """The router called ``name``; ``RolloutError`` naming the known ones otherwise."""
    if name == "istio":
        return CombinedRouter(IstioRouter(api), GatewayRouter(api))
    if name == "nop":
        return NopRouter()
    raise RolloutError(f"unknown router {name!r}: expected one of {', '.join(ROUTERS)}")
