"""Drift: does the live traffic split differ from the weights the state says were set?

Pure (no I/O): the coordinator reads every managed route's live split through the router
(``rollout.ports.Router.read_weights``) and asks here which canary weight the routes carry
against the state it decided. Someone else's edit of a single route is seen even when the
other routes still agree with the state.
"""

from __future__ import annotations

from collections.abc import Sequence

from rollout.ports import RouteWeights
from rollout.spec.rollout import Rollout
from rollout.state import RolloutState

__all__ = ["live_canary_weight", "weight_drift"]


def live_canary_weight(
    rollout: Rollout, state: RolloutState, routes: Sequence[RouteWeights]
) -> int | None:
    """The canary weight the routes carry; the first route that disagrees with the state
    wins. None when there are no routes, or no stable version to measure against.

    With a canary, its subset's weight counts; without one, any weight off the stable
    subset (or, when the stable subset is absent, off the heaviest one) does.
    """
    found = _first_disagreeing(rollout, state, routes)
    return None if found is None else found[1]


def _first_disagreeing(
    rollout: Rollout, state: RolloutState, routes: Sequence[RouteWeights]
) -> tuple[RouteWeights, int] | None:
    if state.stable_version is None:
        return None
    stable = rollout.subset_for(state.stable_version)
    canary = rollout.subset_for(state.canary_version) if state.canary_version else None
    per_route: list[tuple[RouteWeights, int]] = []
    for route in routes:
        if canary is not None:
            per_route.append((route, route.weight_of(canary)))
        elif stable in route.weights:
            per_route.append((route, 100 - route.weights[stable]))
        elif route.weights:
            per_route.append((route, 100 - max(route.weights.values())))
    if not per_route:
        return None
    return next((found for found in per_route if found[1] != state.canary_weight), per_route[0])


def weight_drift(
    rollout: Rollout, state: RolloutState, routes: Sequence[RouteWeights]
) -> str | None:
    """What differs from the state, in words (naming the route, a VirtualService's or an
    HTTPRoute's), or None when the routes carry its weights."""
    found = _first_disagreeing(rollout, state, routes)
    if found is None or found[1] == state.canary_weight:
        return None
    route, live = found
    return f"canary weight is {live}% in {route.route}, {state.canary_weight}% was set: restored"
