"""The router a controller runs with: Istio for a rollout's VirtualServices, the Gateway API
router for its HTTPRoutes, so each route object is chosen in the spec, not per controller.

Both are checked (and planned) before either writes: a broken HTTPRoute leaves the
VirtualServices untouched and the other way round.
"""

from __future__ import annotations

from rollout.effects import SetWeights
from rollout.errors import TrafficConfigError
from rollout.mesh.gateway import GatewayRouter
from rollout.mesh.istio import IstioRouter
from rollout.ports import RouteWeights
from rollout.spec.rollout import Rollout

__all__ = ["CombinedRouter"]


class CombinedRouter:
    """:class:`rollout.ports.Router` over an Istio and a Gateway API router."""

    def __init__(self, istio: IstioRouter, gateway: GatewayRouter) -> None:
        self.istio = istio
        self.gateway = gateway

    def check(self, rollout: Rollout, stable: str, canary: str | None) -> list[str]:
        return self.istio.check(rollout, stable, canary) + self.gateway.check(
            rollout, stable, canary
        )

    def start_caches(self) -> None:
        self.istio.start_caches()
        self.gateway.start_caches()

    def stop_caches(self) -> None:
        self.istio.stop_caches()
        self.gateway.stop_caches()

    def set_weights(self, rollout: Rollout, weights: SetWeights) -> None:
        if rollout.spec.traffic.http_routes:
            canary = weights.canary_version
            problems = self.gateway.check(rollout, weights.stable_version, canary)
            if problems:
                raise TrafficConfigError(problems)
        self.istio.set_weights(rollout, weights)
        self.gateway.set_weights(rollout, weights)

    def read_weights(self, rollout: Rollout) -> tuple[RouteWeights, ...]:
        return self.istio.read_weights(rollout) + self.gateway.read_weights(rollout)
