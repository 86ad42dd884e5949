"""Drift: the canary weight the live routes carry, measured against the decided state.

Inputs: a rollout, a state (stable, canary, weight) and the live split of each route.
Outputs: the live canary weight (the first route that disagrees wins) and the drift message.
"""

from __future__ import annotations

from rollout.drift import live_canary_weight, weight_drift
from rollout.ports import RouteWeights
from rollout.state import Phase, RolloutState
from tests.rollouts import make_rollout

ROLLOUT = make_rollout("v2")
MID = RolloutState(
    phase=Phase.PROGRESSING, stable_version="v1", canary_version="v2", canary_weight=25
)
DONE = RolloutState(phase=Phase.SUCCEEDED, stable_version="v2")


def route(name: str, **weights: int) -> RouteWeights:
    return RouteWeights(f"VirtualService shop/checkout route {name}", weights)


def test_routes_that_carry_the_decided_weight_are_no_drift() -> None:
    routes = [route("primary", v1=75, v2=25), route("fallback", v1=75, v2=25)]
    assert live_canary_weight(ROLLOUT, MID, routes) == 25
    assert weight_drift(ROLLOUT, MID, routes) is None


def test_one_edited_route_is_seen_even_when_the_others_agree() -> None:
    routes = [route("primary", v1=75, v2=25), route("fallback", v1=60, v2=40)]
    assert live_canary_weight(ROLLOUT, MID, routes) == 40
    assert weight_drift(ROLLOUT, MID, routes) == (
        "canary weight is 40% in VirtualService shop/checkout route fallback, 25% was set: restored"
    )


def test_a_missing_canary_destination_carries_nothing() -> None:
    assert live_canary_weight(ROLLOUT, MID, [route("primary", v1=100)]) == 0


def test_without_a_canary_any_weight_off_the_stable_counts() -> None:
    assert live_canary_weight(ROLLOUT, DONE, [route("primary", v2=100)]) == 0
    assert live_canary_weight(ROLLOUT, DONE, [route("primary", v2=90, v3=10)]) == 10
    assert live_canary_weight(ROLLOUT, DONE, [route("primary", v1=70, v3=30)]) == 30


def test_nothing_to_measure_is_no_drift() -> None:
    assert live_canary_weight(ROLLOUT, MID, []) is None
    assert weight_drift(ROLLOUT, RolloutState(), [route("primary", v1=50, v2=50)]) is None
