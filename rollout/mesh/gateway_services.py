"""Which version each of an HTTPRoute's two Services sends to, planned and read back.

An HTTPRoute's backends are Services, not versions: ``stableService`` and
``canaryService`` carry whatever pods their selectors pick. So the Gateway API router
steers the Services too, by one label of their selector, ``version`` (the label the
DestinationRule subsets and managed Deployments use): the stable Service selects the
stable version's pods, the canary Service the canary's. At a promotion the stable Service
is moved to the new version before the HTTPRoute gives it back all the traffic (the canary
Service carries that version meanwhile), so traffic never goes back to the old version;
the canary Service is moved to a new canary only while no rule sends to it.

The selector is also how the router reads an HTTPRoute back for drift and adoption
(:func:`rule_splits`): each weighted rule's weights, by the subset of the version each
Service selects. A Service whose selector names no version counts as ``""`` (names no
subset), as a route the controller never managed does on a VirtualService.

Each selector change is a JSON patch guarded by ``test`` ops on the resourceVersion and on
the selector as read; nothing else of the Service is touched. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from rollout.mesh import gateway_routes

__all__ = ["VERSION_LABEL", "ServicePlan", "plan_selector", "rule_splits", "selected_version"]

VERSION_LABEL = "version"

JsonObject = dict[str, Any]
Operation = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ServicePlan:
    """The JSON patch to send (empty: nothing to change) or the problems in the way."""

    operations: list[Operation]
    problems: list[str]


def selected_version(service: JsonObject) -> str | None:
    """The version a Service's selector picks, or None when it names none."""
    selector = (service.get("spec") or {}).get("selector") or {}
    version = selector.get(VERSION_LABEL) if isinstance(selector, dict) else None
    return str(version) if version else None


def plan_selector(service: JsonObject, version: str) -> ServicePlan:
    """The guarded patch that makes ``service`` select ``version``'s pods."""
    spec = service.get("spec") or {}
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not selector:
        return ServicePlan([], ["has no selector: its endpoints cannot be moved to a version"])
    if selector.get(VERSION_LABEL) == version:
        return ServicePlan([], [])
    guard: list[Operation] = []
    resource_version = (service.get("metadata") or {}).get("resourceVersion")
    if resource_version:
        guard.append({"op": "test", "path": "/metadata/resourceVersion", "value": resource_version})
    guard.append({"op": "test", "path": "/spec/selector", "value": selector})
    op = "replace" if VERSION_LABEL in selector else "add"
    return ServicePlan(
        [*guard, {"op": op, "path": f"/spec/selector/{VERSION_LABEL}", "value": version}], []
    )


def _percent(weights: list[int]) -> list[int]:
    total = sum(weights)
    if total <= 0:
        return [0 for _ in weights]
    return [round(100 * weight / total) for weight in weights]


def rule_splits(
    route: JsonObject,
    target: gateway_routes.GatewayTarget,
    subset_of: Callable[[str], str],
) -> list[tuple[int, dict[str, int]]]:
    """Each weighted rule of ``route`` (by index) with the percentage of its traffic each
    subset gets; ``subset_of`` maps a Service name to the subset its selector picks.

    Gateway API weights are proportions (a missing ``weight`` is 1), so they are read as
    percentages of the rule's total; the router writes them summing to 100.
    """
    rules: list[Any] = (route.get("spec") or {}).get("rules") or []
    splits: list[tuple[int, dict[str, int]]] = []
    for index in gateway_routes.weighted_rules(rules, target):
        refs = [
            ref
            for ref in rules[index].get("backendRefs") or []
            if gateway_routes.is_service_ref(ref, target.stable_service)
            or gateway_routes.is_service_ref(ref, target.canary_service)
        ]
        weights = [int(ref.get("weight", 1)) for ref in refs]
        split: dict[str, int] = {}
        for ref, percent in zip(refs, _percent(weights), strict=True):
            subset = subset_of(str(ref["name"]))
            split[subset] = split.get(subset, 0) + percent
        splits.append((index, split))
    return splits
