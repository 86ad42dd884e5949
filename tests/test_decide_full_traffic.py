"""Every path by which the decision core can give a version 100% of the traffic.

A version reaches 100% only through a promotable verdict or a person's ``promote --full``
(or, by the spec author's choice, a spec with no analysis policies); every other path
that ends with one version at 100% gives it to a version that already had it: the stable
one, or the one the live routes said was stable when the state was lost.

The paths, each walked below with and without what justifies it:
1. a ``setWeight: 100`` step;
2. the final promotion after the last step;
3. a bake time after ``setWeight: 100`` (promoted on a plain pass: it got to 100% on a
   promotable verdict);
4. ``promote`` (one step) and 5. ``promote --full``;
6. adoption with no state (first sight, a recreated Rollout, a lost status), resumed or
   reverted per ``onAdopt``;
7. a spec changed back to the stable version, after a rollback or mid-rollout;
8. a new version superseding a canary under way;
9. the spec deleted (``onDelete``); 10. abort; 11. a failed verdict; 12. too many
   inconclusive ticks.

Then a seeded random walk mixes all of them (verdicts, commands, pushes, deletions, lost
states and lost records) and checks the rule on every tick. Inputs are specs, states and
observations; outputs are the decisions. Pure: no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from rollout import route_record
from rollout.adoption import LiveRoutes
from rollout.analysis.verdicts import Outcome, Verdict
from rollout.decide import Decision, Observations, decide
from rollout.effects import SetWeights
from rollout.spec.rollout import Rollout
from rollout.state import Command, Phase, RolloutState
from tests.decide_walker import FAIL, INCONCLUSIVE, PASS, PROMOTABLE, Walker
from tests.rollouts import make_rollout

FINAL_100: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"analyze": {"duration": "10s"}},
    {"setWeight": 100},
]
NO_100: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"analyze": {"duration": "10s"}},
    {"setWeight": 50},
]
BAKE: list[dict[str, Any]] = [*FINAL_100, {"pause": {"duration": "10s"}}]
GATED: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 100}]


def full_version(weights: SetWeights) -> str | None:
    """The version these weights give all the traffic to, if any."""
    if weights.canary_version is not None and weights.canary_weight == 100:
        return weights.canary_version
    if weights.canary_version is None or weights.canary_weight == 0:
        return weights.stable_version
    return None


def to_full(walker: Walker) -> str | None:
    return full_version(walker.last.weights) if walker.last and walker.last.weights else None


def rolling(steps: list[dict[str, Any]], **spec: Any) -> Walker:
    """v1 stable, v2 pushed and at its first step (20%)."""
    walker = Walker(steps=steps, **spec)
    walker.tick()
    walker.push("v2")
    walker.tick(verdict=PASS)
    assert walker.state.canary_weight == 20
    return walker


def command(action: str, n: int = 1) -> Command:
    return Command(id=f"c{n}", action=action, by="bob", at=1.0)


# ---- 1-3: the steps ----------------------------------------------------------------------


@pytest.mark.parametrize("steps", [FINAL_100, NO_100, BAKE], ids=["setWeight100", "final", "bake"])
def test_steps_give_the_canary_everything_only_on_a_promotable_verdict(
    steps: list[dict[str, Any]],
) -> None:
    walker = rolling(steps)
    for _ in range(6):  # long past every hold: a plain pass is not enough
        walker.tick(after=30, verdict=PASS)
        assert to_full(walker) != "v2"
    assert walker.state.canary_weight < 100 and walker.state.stable_version == "v1"
    walker.tick(after=30, verdict=PROMOTABLE)
    for _ in range(3):  # the bake time, then its plain pass
        walker.tick(after=30, verdict=PASS)
    assert ("v1", "v2", 100) in walker.weights or ("v2", None, 0) in walker.weights
    assert walker.state.stable_version == "v2"


def test_a_bake_at_100_percent_is_reached_only_by_a_promotable_verdict() -> None:
    walker = rolling(BAKE)
    walker.tick(after=30, verdict=PASS)
    assert walker.state.canary_weight == 20
    walker.tick(after=30, verdict=PROMOTABLE)
    assert walker.weights[-1] == ("v1", "v2", 100)


# ---- 4-5: people -------------------------------------------------------------------------


def test_promote_one_step_does_not_pass_a_100_percent_step_without_a_verdict() -> None:
    walker = rolling(GATED)
    walker.tick(after=30, verdict=PASS)
    assert walker.phase() is Phase.PAUSED
    walker.tick(command=command("promote"), verdict=PASS)
    walker.tick(after=30, verdict=PASS)
    assert walker.state.canary_weight == 20 and to_full(walker) != "v2"
    assert walker.phase() is Phase.PROMOTING  # waits for a promotable verdict


def test_promote_full_is_a_persons_decision_and_gives_everything() -> None:
    walker = rolling(NO_100)
    walker.tick(command=command("promote-full"), verdict=PASS)
    assert to_full(walker) == "v2" and walker.state.stable_version == "v2"


# ---- 6: adoption ---------------------------------------------------------------------------


@pytest.mark.parametrize("on_adopt", ["resume", "revert"])
def test_a_lost_state_never_gives_the_canary_more_than_it_had(on_adopt: str) -> None:
    walker = rolling(NO_100, onAdopt=on_adopt)
    mesh = {"v1": 80, "v2": 20}
    record = route_record.encode(route_record.record_of("shop/checkout", walker.state))  # type: ignore[arg-type]
    walker.state = RolloutState()
    walker.live = LiveRoutes((mesh,), (record,))
    walker.tick(verdict=PROMOTABLE)  # even a promotable verdict this tick changes nothing
    expected = ("v1", "v2", 20) if on_adopt == "resume" else ("v1", None, 0)
    assert walker.weights[-1] == expected
    assert walker.state.stable_version == "v1"
    for _ in range(5):
        walker.tick(after=30, verdict=PASS)
        assert walker.state.canary_weight <= 50 and walker.state.stable_version == "v1"


# ---- 7-12: the ways back to stable ---------------------------------------------------------


def test_every_way_back_gives_everything_to_the_stable_version_only() -> None:
    def pushed(version: str) -> Callable[[Walker], object]:
        def way(walker: Walker) -> object:
            walker.push(version)
            return walker.tick(verdict=PASS)

        return way

    ways: dict[str, Callable[[Walker], object]] = {
        "spec back to stable": pushed("v1"),
        "superseded": pushed("v3"),
        "deleted": lambda w: w.tick(deleted=True),
        "abort": lambda w: w.tick(command=command("abort")),
        "failed": lambda w: w.tick(verdict=FAIL),
        "inconclusive": lambda w: [w.tick(verdict=INCONCLUSIVE) for _ in range(3)],
    }
    for name, way in ways.items():
        walker = rolling(NO_100)
        way(walker)
        assert walker.weights[-1][:2] != ("v1", "v2"), name  # v2 lost its traffic
        assert all(to != "v2" for to in map(full_version_of, walker.weights)), name
        assert walker.state.stable_version == "v1", name


def full_version_of(weights: tuple[str, str | None, int]) -> str | None:
    return full_version(SetWeights(*weights))


def test_a_spec_back_on_stable_after_a_rollback_settles_without_moving_traffic() -> None:
    walker = rolling(NO_100)
    walker.tick(verdict=FAIL)
    walker.push("v1")
    decision = walker.tick()
    assert decision.weights is None and walker.state.phase is Phase.SUCCEEDED


def test_with_no_policies_the_spec_author_opted_out_of_analysis() -> None:
    walker = rolling(NO_100, analysis={"policies": []})
    walker.tick(after=30, verdict=PASS)
    assert walker.state.stable_version == "v2"  # the one documented exception


# ---- everything at once --------------------------------------------------------------------


class Mesh:
    """The routes as the router would leave them, with the record beside them."""

    def __init__(self) -> None:
        self.split: dict[str, int] = {"v1": 100}
        self.record: str | None = None

    def apply(self, weights: SetWeights, state: RolloutState) -> None:
        self.split = {weights.stable_version: 100 - weights.canary_weight}
        if weights.canary_version is not None:
            self.split[weights.canary_version] = weights.canary_weight
        found = route_record.record_of("shop/checkout", state)
        self.record = route_record.encode(found) if found else None


STEP_SHAPES = [FINAL_100, NO_100, BAKE, GATED]
VERDICTS = [None, PASS, PASS, PROMOTABLE, INCONCLUSIVE, FAIL]
ACTIONS = ["promote", "promote-full", "abort", "retry"]


def walk(seed: int, ticks: int, reached: dict[str, int]) -> None:
    rng = random.Random(seed)
    spec: dict[str, Any] = {
        "steps": rng.choice(STEP_SHAPES),
        "onAdopt": rng.choice(["resume", "revert"]),
        "onDelete": rng.choice(["revert", "leave"]),
        "analysis": {"maxInconclusive": 3},
    }
    rollout: Rollout = make_rollout("v1", **spec)
    state = RolloutState()
    mesh = Mesh()
    trusted = {"v1"}  # what served everything before the controller first saw it
    now, commands, deleted = 1000.0, 0, False
    for _ in range(ticks):
        now += rng.uniform(1, 40)
        if rng.random() < 0.08:
            rollout = make_rollout(rng.choice(["v1", "v2", "v3"]), **spec)
        if rng.random() < 0.03:
            deleted = not deleted
        if rng.random() < 0.06:  # the Rollout deleted and recreated, or its status lost
            state = RolloutState()
            if rng.random() < 0.5:
                mesh.record = None
        action = None
        if rng.random() < 0.08:
            commands += 1
            action = command(rng.choice(ACTIONS), commands)
        verdict: Verdict | None = rng.choice(VERDICTS)
        before = state
        decision: Decision = decide(
            rollout,
            state,
            Observations(
                now=now,
                spec_hash=f"hash-{rollout.spec.version}",
                canary_ready=rng.random() < 0.8,
                verdict=verdict,
                analysis_state={"n": 1} if verdict else None,
                command=action,
                live=LiveRoutes((dict(mesh.split),), (mesh.record,) if mesh.record else ())
                if before.stable_version is None
                else None,
            ),
            deleted=deleted,
        )
        state = decision.state
        weights = decision.weights
        if weights is None:
            continue
        if before.stable_version is None and weights.canary_version is not None:
            assert weights.canary_weight <= mesh.split.get(weights.canary_version, 0), seed
        version = full_version(weights)
        if version is not None and version not in trusted:
            promotable = verdict is not None and verdict.promotable
            promotable = promotable and verdict is not None and verdict.outcome is Outcome.PASS
            by_person = action is not None and action.action == "promote-full"
            assert promotable or by_person, f"seed {seed}: {version} given 100% unjustified"
            reached["promotable verdict" if promotable else "promote --full"] += 1
            trusted.add(version)
        elif version is not None:
            reached["back to a version that had it"] += 1
        mesh.apply(weights, state)
        if before.stable_version is None:
            reached["adoption"] += 1


def test_no_sequence_of_ticks_gives_an_unjustified_version_all_the_traffic() -> None:
    reached = {
        "promotable verdict": 0,
        "promote --full": 0,
        "back to a version that had it": 0,
        "adoption": 0,
    }
    for seed in range(400):
        walk(seed, 60, reached)
    # the walk reached every kind of path, so the rule above was really put to the test
    assert all(count >= 10 for count in reached.values()), reached
