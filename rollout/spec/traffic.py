"""Where a rollout's traffic runs: the Istio VirtualServices and the Gateway API HTTPRoutes
it manages, each chosen per object in the spec, and the DestinationRule the Istio ones use.

Apart from :mod:`rollout.spec.rollout` so that module stays small; re-exported there.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from rollout.spec import routing
from rollout.spec.base import DnsLabel, DnsSubdomain, SpecModel

__all__ = ["HTTPRouteRef", "Traffic", "VirtualServiceRef"]


class VirtualServiceRef(SpecModel):
    """One VirtualService to manage, and which of its named http routes."""

    name: DnsSubdomain
    namespace: DnsLabel | None = None
    routes: list[str] = Field(
        default_factory=list, description="Named http routes to manage; all when empty."
    )


class HTTPRouteRef(SpecModel):
    """One Gateway API HTTPRoute to manage: its rules sending to ``stableService`` get a
    ``canaryService`` backendRef beside it (:mod:`rollout.mesh.gateway_routes`)."""

    name: DnsSubdomain
    namespace: DnsLabel | None = None
    stable_service: DnsLabel
    canary_service: DnsLabel

    @model_validator(mode="after")
    def _two_services(self) -> HTTPRouteRef:
        if self.stable_service == self.canary_service:
            raise ValueError("stableService and canaryService must be different Services")
        return self


class Traffic(SpecModel):
    """The objects that carry the service's traffic: Istio VirtualServices (with their
    DestinationRule), Gateway API HTTPRoutes, or both."""

    host: str = Field(
        description="Destination host in the routes, e.g. checkout.shop.svc.cluster.local"
    )
    virtual_services: list[VirtualServiceRef] = Field(default_factory=list)
    destination_rule: DnsSubdomain | None = None
    http_routes: list[HTTPRouteRef] = Field(
        default_factory=list, description="Gateway API HTTPRoutes to manage."
    )
    session_affinity: routing.SessionAffinity | None = None

    def describe(self, namespace: str) -> str:
        """Each managed route object and its router, for ``rollout plan``."""
        parts = [
            f"VirtualService {ref.namespace or namespace}/{ref.name} (Istio)"
            for ref in self.virtual_services
        ]
        parts += [
            f"HTTPRoute {ref.namespace or namespace}/{ref.name} (Gateway API, "
            f"{ref.stable_service} -> {ref.canary_service})"
            for ref in self.http_routes
        ]
        return "; ".join(parts)

    @model_validator(mode="after")
    def _some_route(self) -> Traffic:
        if not self.virtual_services and not self.http_routes:
            raise ValueError("give at least one of virtualServices or httpRoutes")
        if self.virtual_services and self.destination_rule is None:
            raise ValueError("virtualServices need a destinationRule")
        if self.http_routes and self.session_affinity is not None:
            raise ValueError("sessionAffinity is not supported on httpRoutes")
        names = [(ref.namespace, ref.name) for ref in self.http_routes]
        if len(set(names)) != len(names):
            raise ValueError("an HTTPRoute is listed twice")
        return self

    @field_validator("virtual_services")
    @classmethod
    def _unique_virtual_services(cls, value: list[VirtualServiceRef]) -> list[VirtualServiceRef]:
        seen: set[tuple[str | None, str]] = set()
        for ref in value:
            key = (ref.namespace, ref.name)
            if key in seen:
                raise ValueError(f"VirtualService {ref.name!r} is listed twice")
            seen.add(key)
        return value
