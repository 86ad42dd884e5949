"""Header-route and mirror steps walked by the decision core, and the routing a state calls
for (``reconcile.routing_of``).

Inputs: a spec with ``setHeaderRoute``, ``setMirror`` and ``sessionAffinity``, hand-made
verdicts. Outputs: the step index, the weights each tick sets, and the managed routing
that goes with them. No I/O.
"""

from __future__ import annotations

from rollout.reconcile import routing_of
from rollout.spec.routing import Routing
from rollout.state import Command, Phase
from tests.decide_walker import PASS, PROMOTABLE, Walker

STEPS = [
    {"setHeaderRoute": {"headers": {"x-canary": {"exact": "always"}}}},
    {"analyze": {"duration": "30s"}},
    {"setMirror": {"percent": 25}},
    {"analyze": {"duration": "30s"}},
    {"setMirror": {"percent": 0}},
    {"setHeaderRoute": {}},
    {"setWeight": 20},
    {"analyze": {"duration": "30s"}},
]
AFFINITY = {
    "host": "checkout",
    "destinationRule": "checkout",
    "virtualServices": [{"name": "checkout"}],
    "sessionAffinity": {"cookieName": "version", "maxAge": "10m"},
}


def test_route_steps_send_the_weights_as_they_are_and_move_on_at_once() -> None:
    walker = Walker(steps=STEPS)
    walker.tick()
    walker.push("v2")
    decision = walker.tick(ready=True)
    assert (walker.state.phase, walker.state.step_index) == (Phase.PROGRESSING, 1)
    assert decision.weights is not None
    assert (decision.weights.canary_version, decision.weights.canary_weight) == ("v2", 0)
    routing = routing_of(walker.rollout, walker.state)
    assert routing.header_route is not None
    assert routing.header_route.headers["x-canary"].exact == "always"
    assert routing.mirror_percent == 0

    walker.tick(after=35, verdict=PASS)  # analysis done: the mirror step follows at once
    assert walker.state.step_index == 3
    assert routing_of(walker.rollout, walker.state).mirror_percent == 25
    assert walker.last is not None and walker.last.weights is not None

    walker.tick(after=35, verdict=PASS)  # mirror off, header route off, 20%
    assert (walker.state.step_index, walker.state.canary_weight) == (7, 20)
    assert routing_of(walker.rollout, walker.state) == Routing()

    walker.tick(after=35, verdict=PROMOTABLE)
    assert walker.phase() is Phase.SUCCEEDED
    assert routing_of(walker.rollout, walker.state) == Routing(), "promotion removes them"


def test_a_rollback_calls_for_no_managed_route() -> None:
    walker = Walker(steps=STEPS)
    walker.tick()
    walker.push("v2")
    walker.tick(ready=True)
    assert routing_of(walker.rollout, walker.state).header_route is not None
    walker.tick(command=Command(id="a1", action="abort", by="erin"))
    assert walker.phase() is Phase.ROLLED_BACK
    assert walker.state.canary_version is None
    assert routing_of(walker.rollout, walker.state) == Routing()


def test_sticky_sessions_start_with_the_rollout_and_end_with_it() -> None:
    walker = Walker(traffic=AFFINITY, steps=[{"setWeight": 10}, {"analyze": {"duration": "30s"}}])
    walker.tick()
    assert routing_of(walker.rollout, walker.state).affinity is None, "no canary, no cookie"
    walker.push("v2")
    walker.tick(ready=False)
    assert routing_of(walker.rollout, walker.state).affinity is not None, "pinned at 0% too"
    walker.tick(ready=True)
    affinity = routing_of(walker.rollout, walker.state).affinity
    assert affinity is not None and affinity.cookie_name == "version"
    walker.tick(after=35, verdict=PROMOTABLE)
    assert walker.phase() is Phase.SUCCEEDED
    assert routing_of(walker.rollout, walker.state).affinity is None
