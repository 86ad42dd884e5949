"""The decision core, walked tick by tick: phase, step and weights after each tick.

Inputs are a spec, the state and hand-made observations (verdicts, readiness, commands,
time); outputs are the next state and the effects. No I/O anywhere.
"""

from __future__ import annotations

import pytest

from rollout.decide import Observations, decide, mark_sent
from rollout.effects import SetWeights
from rollout.state import Command, Phase, RolloutState
from tests.decide_walker import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    PROMOTABLE,
    Walker,
    started,
)


def test_first_version_is_adopted_as_stable() -> None:
    walker = Walker()
    decision = walker.tick()
    assert walker.state.phase is Phase.SUCCEEDED
    assert walker.state.stable_version == "v1"
    assert decision.weights == SetWeights("v1", None, 0)


def test_healthy_rollout_walks_every_step_and_promotes() -> None:
    walker = started(Walker())
    walker.tick(ready=False)
    assert walker.state.phase is Phase.WAITING
    assert walker.state.canary_version == "v2"
    assert walker.state.canary_weight == 0
    walker.tick(ready=True)
    assert (walker.state.phase, walker.state.step_index, walker.state.canary_weight) == (
        Phase.PROGRESSING,
        1,
        10,
    )
    walker.tick(verdict=PASS)  # 10 s into a 30 s analysis step
    assert (walker.state.step_index, walker.state.canary_weight) == (1, 10)
    walker.tick(after=25, verdict=PASS)  # analysis done: on to 50% and its pause
    assert (walker.state.step_index, walker.state.canary_weight) == (3, 50)
    walker.tick(verdict=PASS)
    assert walker.state.canary_weight == 50
    walker.tick(after=15, verdict=PASS)  # pause over: 100% waits for a promotable verdict
    assert (walker.state.phase, walker.state.canary_weight) == (Phase.PROMOTING, 50)
    walker.tick(verdict=PROMOTABLE)
    assert walker.phase() is Phase.SUCCEEDED
    assert walker.state.stable_version == "v2"
    assert walker.state.canary_version is None
    assert walker.weights[-3:] == [
        ("v1", "v2", 10),
        ("v1", "v2", 50),
        ("v2", None, 0),
    ]
    assert walker.alerts() == [
        "started",
        "stepAdvanced",
        "stepAdvanced",
        "stepAdvanced",
        "promoted",
    ]


def test_failed_verdict_rolls_back_at_once_with_evidence() -> None:
    walker = started(Walker())
    walker.tick()
    walker.tick(verdict=FAIL)
    assert walker.state.phase is Phase.ROLLED_BACK
    assert walker.last is not None and walker.last.weights == SetWeights("v1", None, 0)
    assert walker.state.failed is not None and walker.state.failed.version == "v2"
    rolled_back = walker.state.outbox[-1].notification
    assert rolled_back["event"] == "rolledBack"
    assert rolled_back["weight"] == 10 and rolled_back["step"] == 1
    assert rolled_back["evidence"][0]["value"] == 0.05
    assert rolled_back["evidence"][0]["threshold"] == 0.01


def test_failed_version_is_not_retried_until_spec_changes_or_retry() -> None:
    walker = started(Walker())
    walker.tick()
    walker.tick(verdict=FAIL)
    walker.tick()
    walker.tick()
    assert walker.state.phase is Phase.ROLLED_BACK
    assert walker.state.canary_weight == 0
    walker.tick(command=Command(id="c1", action="retry", by="bob", at=1.0), ready=False)
    assert walker.phase() is Phase.WAITING
    assert walker.state.commands[-1].result == "retrying v2"
    walker.tick()
    assert walker.state.canary_weight == 10
    walker.tick(verdict=FAIL)
    assert walker.state.phase is Phase.ROLLED_BACK
    walker.tick(spec_hash="hash-2")  # the spec changed: a new attempt
    assert walker.phase() is Phase.PROGRESSING


def test_a_spec_reverted_to_stable_after_a_rollback_settles_as_succeeded() -> None:
    walker = started(Walker())
    walker.tick()
    walker.tick(verdict=FAIL)
    assert walker.state.phase is Phase.ROLLED_BACK
    walker.push("v1")  # the spec asks for the stable version again (a revert commit)
    decision = walker.tick(spec_hash="hash-2")
    assert walker.phase() is Phase.SUCCEEDED and walker.state.failed is None
    assert "no longer asks for v2" in walker.state.message
    assert decision.weights is None  # no traffic moves, no new rollout
    assert walker.state.stable_version == "v1" and walker.state.canary_version is None
    walker.tick(spec_hash="hash-2")
    assert walker.phase() is Phase.SUCCEEDED


def test_inconclusive_holds_the_weight_then_rolls_back() -> None:
    walker = started(Walker())
    walker.tick()
    walker.tick(after=40, verdict=INCONCLUSIVE)
    assert (walker.state.step_index, walker.state.canary_weight) == (1, 10)
    walker.tick(verdict=INCONCLUSIVE)
    assert walker.state.canary_weight == 10
    assert walker.alerts().count("inconclusive") == 1
    walker.tick(verdict=INCONCLUSIVE)
    assert walker.state.phase is Phase.ROLLED_BACK
    assert "inconclusive for 3 ticks" in walker.state.message


def test_inconclusive_streak_resets_on_a_pass() -> None:
    walker = started(Walker())
    walker.tick()
    walker.tick(after=1, verdict=INCONCLUSIVE)
    walker.tick(after=1, verdict=INCONCLUSIVE)
    walker.tick(after=1, verdict=PASS)
    assert walker.state.inconclusive_streak == 0
    walker.tick(after=1, verdict=INCONCLUSIVE)
    assert walker.state.phase is Phase.PROGRESSING


def test_no_verdict_while_canary_has_traffic_is_inconclusive() -> None:
    walker = started(Walker())
    walker.tick()
    walker.tick(after=40, verdict=None)
    assert walker.state.inconclusive_streak == 1
    assert walker.state.canary_weight == 10


def test_never_promotes_without_a_promotable_verdict() -> None:
    walker = started(Walker(steps=[{"setWeight": 100}]))
    walker.tick(verdict=PASS)
    for _ in range(5):
        walker.tick(verdict=PASS)
        assert walker.state.phase is Phase.PROMOTING
    walker.tick(verdict=PROMOTABLE)
    assert walker.state.phase is Phase.SUCCEEDED


def test_progress_deadline_fails_a_canary_that_never_becomes_ready() -> None:
    walker = started(Walker(progressDeadline="1m"))
    walker.tick(ready=False)
    walker.tick(after=30, ready=False)
    assert walker.state.phase is Phase.WAITING
    walker.tick(after=40, ready=False)
    assert walker.phase() is Phase.FAILED
    assert "not ready within 1m" in walker.state.message
    assert walker.alerts()[-1] == "failed"


def test_new_version_mid_rollout_sends_traffic_back_and_starts_over() -> None:
    walker = started(Walker())
    walker.tick()
    assert walker.state.canary_weight == 10
    walker.push("v3")
    decision = walker.tick(ready=False)
    assert decision.weights == SetWeights("v1", None, 0)
    assert walker.state.phase is Phase.WAITING
    assert walker.state.canary_version == "v3"
    walker.tick(ready=True)
    assert walker.weights[-1] == ("v1", "v3", 10)


def test_reverting_spec_to_stable_mid_rollout_ends_it() -> None:
    walker = started(Walker())
    walker.tick()
    walker.push("v1")
    walker.tick()
    assert walker.state.phase is Phase.SUCCEEDED
    assert walker.state.canary_version is None
    assert walker.weights[-1] == ("v1", None, 0)


def test_pause_until_promoted_and_promote_one_step() -> None:
    steps = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {}}]
    walker = started(Walker(steps=steps))
    walker.tick()
    assert (walker.state.phase, walker.state.canary_weight) == (Phase.PAUSED, 20)
    walker.tick(after=3600, verdict=PASS)
    assert (walker.state.phase, walker.state.canary_weight) == (Phase.PAUSED, 20)
    walker.tick(verdict=PASS, command=Command(id="p1", action="promote", by="carol", at=5.0))
    assert (walker.state.phase, walker.state.canary_weight) == (Phase.PAUSED, 60)
    assert walker.state.commands[-1].by == "carol"
    walker.tick(verdict=PASS, command=Command(id="p1", action="promote", by="carol", at=5.0))
    assert walker.state.canary_weight == 60  # the same command is applied once
    walker.tick(verdict=PROMOTABLE, command=Command(id="p2", action="promote", by="carol"))
    assert walker.state.phase is Phase.SUCCEEDED


def test_promote_fully_skips_the_remaining_steps() -> None:
    walker = started(Walker())
    walker.tick()
    walker.tick(command=Command(id="f1", action="promote-full", by="dave"))
    assert walker.state.phase is Phase.SUCCEEDED
    assert walker.weights[-1] == ("v2", None, 0)


def test_abort_rolls_back_and_remembers_the_version() -> None:
    walker = started(Walker())
    walker.tick()
    walker.tick(command=Command(id="a1", action="abort", by="erin"))
    assert walker.state.phase is Phase.ROLLED_BACK
    assert walker.weights[-1] == ("v1", None, 0)
    walker.tick()
    assert walker.state.phase is Phase.ROLLED_BACK


@pytest.mark.parametrize(
    ("on_delete", "phase", "weight"),
    [("revert", Phase.ROLLED_BACK, 0), ("leave", Phase.PAUSED, 10)],
)
def test_spec_deleted_mid_rollout(on_delete: str, phase: Phase, weight: int) -> None:
    walker = Walker(onDelete=on_delete)
    walker.tick()
    walker.push("v2")
    walker.tick()
    walker.tick(deleted=True)
    assert walker.state.phase is phase
    assert walker.state.canary_weight == weight
    assert walker.state.spec_deleted


def test_replaying_a_tick_changes_nothing() -> None:
    walker = started(Walker())
    walker.tick()
    obs = Observations(now=walker.now, spec_hash="hash-1", canary_ready=True, verdict=PASS)
    first = decide(walker.rollout, walker.state, obs)
    second = decide(walker.rollout, first.state, obs)
    assert second.state == first.state
    assert [e for e in second.effects if isinstance(e, SetWeights)] in (
        [],
        [SetWeights("v1", "v2", first.state.canary_weight)],
    )


def test_alerts_are_sent_once_per_event_per_revision() -> None:
    walker = started(Walker())
    walker.tick()
    keys = [a.key for a in walker.state.outbox]
    walker.state = mark_sent(walker.state, keys)
    assert walker.state.outbox == []
    walker.tick(verdict=INCONCLUSIVE)
    walker.tick(verdict=PASS)
    walker.tick(verdict=INCONCLUSIVE)
    assert walker.alerts() == ["inconclusive"]


def test_state_round_trips_through_the_status() -> None:
    walker = started(Walker())
    walker.tick()
    walker.tick(verdict=FAIL)
    restored = RolloutState.from_status(walker.state.to_status())
    assert restored == walker.state


def test_an_invalid_newer_spec_keeps_the_last_valid_one_and_alerts_once() -> None:
    walker = started(Walker())
    walker.tick()
    problems = ("rollouts/checkout.yaml:9: spec.steps[0].setWeight: must be <= 100",)
    for _ in range(3):
        walker.last = decide(
            walker.rollout,
            walker.state,
            Observations(
                now=walker.now + 1,
                spec_hash="hash-1",
                canary_ready=True,
                verdict=PASS,
                spec_problems=problems,
            ),
        )
        walker.state = walker.last.state
    assert walker.state.phase is Phase.PROGRESSING
    assert walker.state.canary_weight == 10
    condition = walker.state.condition("SpecValid")
    assert condition is not None and condition.status == "False"
    assert "setWeight" in condition.message
    assert walker.alerts().count("specInvalid") == 1
    walker.tick(verdict=PASS)
    assert walker.state.condition("SpecValid") is None


def test_reverting_the_spec_after_a_rollback_returns_to_succeeded() -> None:
    walker = started(Walker())
    walker.tick()
    walker.tick(verdict=FAIL)
    assert walker.state.phase is Phase.ROLLED_BACK
    walker.push("v1")  # a revert commit in Git, by a person or by write-back
    walker.tick(spec_hash="hash-revert")
    assert walker.phase() is Phase.SUCCEEDED
    assert walker.state.failed is None
    assert walker.state.stable_version == "v1"


def test_a_final_100_percent_step_waits_for_a_promotable_verdict_at_the_weight_before() -> None:
    walker = started(Walker(steps=[{"setWeight": 50}, {"setWeight": 100}]))
    walker.tick(verdict=PASS)
    assert (walker.state.phase, walker.state.canary_weight) == (Phase.PROMOTING, 50)
    walker.tick(verdict=PASS)
    assert walker.state.canary_weight == 50  # stable still gets traffic to compare with
    walker.tick(verdict=PROMOTABLE)
    assert walker.state.phase is Phase.SUCCEEDED
    # going to 100% and promoting happen in the same tick: one write, straight to promoted
    assert walker.weights[-2:] == [("v1", "v2", 50), ("v2", None, 0)]


def test_a_bake_time_at_100_percent_promotes_on_a_plain_pass() -> None:
    walker = started(
        Walker(steps=[{"setWeight": 50}, {"setWeight": 100}, {"pause": {"duration": "30s"}}])
    )
    walker.tick(verdict=PROMOTABLE)
    assert (walker.state.phase, walker.state.canary_weight) == (Phase.PROGRESSING, 100)
    walker.tick(after=40, verdict=PASS)
    assert walker.state.phase is Phase.SUCCEEDED


def test_an_invalid_spec_alerts_once_across_steps() -> None:
    walker = started(Walker())
    problems = ("rollouts/checkout.yaml:8: spec.canaryWeight: unknown field",)
    for after, verdict in ((10.0, PASS), (40.0, PASS), (30.0, PASS)):
        walker.now += after
        walker.last = decide(
            walker.rollout,
            walker.state,
            Observations(
                now=walker.now,
                spec_hash="hash-1",
                canary_ready=True,
                verdict=verdict,
                spec_problems=problems,
            ),
        )
        walker.state = mark_sent(walker.last.state, [a.key for a in walker.last.state.outbox])
    assert walker.state.step_index > 1  # the rollout moved on through several steps
    assert sum(key.startswith("specInvalid/") for key in walker.state.alerts_sent) == 1
