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
    if state.stable_version is None:
        return None
    stable = rollout.subset_for(state.stable_version)
    canary = rollout.subset_for(state.canary_version) if state.canary_version else None
    per_route: list[int] = []
    for route in routes:
        if canary is not None:
            per_route.append(route.weight_of(canary))
        elif stable in route.weights:
            per_route.append(100 - route.weights[stable])
        elif route.weights:
            per_route.append(100 - max(route.weights.values()))
    if not per_route:
        return None
    return next((value for value in per_route if value != state.canary_weight), per_route[0])


def weight_drift(
    rollout: Rollout, state: RolloutState, routes: Sequence[RouteWeights]
) -> str | None:
    """What differs from the state, in words, or None when the routes carry its weights."""
    live = live_canary_weight(rollout, state, routes)
    if live is None or live == state.canary_weight:
        return None
    return (
        f"canary weight is {live}% in the VirtualService, {state.canary_weight}% was set: restored"
    )
