"""Adoption: a rollout with no state takes its place from the live routes and their record.

Inputs are a spec, the live split of each managed route (subset to weight), the record
annotations found beside them, and ``onAdopt``; outputs are the adopted state and the
weights that settle the routes on it. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from rollout import route_record
from rollout.adoption import Adoption, LiveRoutes, adopt, resume_step
from rollout.effects import RecordEvent, SetWeights
from rollout.route_record import RouteRecord
from rollout.state import FailedRevision, Phase, RolloutState
from tests.decide_walker import Walker
from tests.rollouts import make_rollout

NOW = 5000.0


def adopted(
    version: str,
    *splits: Mapping[str, int],
    records: tuple[str, ...] = (),
    **spec: Any,
) -> Adoption:
    rollout = make_rollout(version, **spec)
    return adopt(
        rollout,
        LiveRoutes(tuple(splits), records),
        RolloutState(),
        now=NOW,
        spec_hash="hash-2",
        commit="abc123",
    )


def record(**fields: Any) -> str:
    body: dict[str, Any] = {"rollout": "shop/checkout", "stable": "v1", **fields}
    return route_record.encode(RouteRecord.model_validate(body))


def test_first_sight_of_a_single_destination_equal_to_the_spec_adopts_it() -> None:
    found = adopted("v1", {"v1": 100})
    assert found.state is not None
    assert (found.state.phase, found.state.stable_version) == (Phase.SUCCEEDED, "v1")
    assert found.weights == SetWeights("v1", None, 0)


def test_a_spec_ahead_of_the_live_version_is_not_adopted_as_stable() -> None:
    found = adopted("v2", {"v1": 100})
    assert found.state is not None
    assert found.state.stable_version == "v1"
    assert found.state.canary_version is None  # the next tick starts a normal rollout
    assert found.weights == SetWeights("v1", None, 0)


def test_a_canary_with_traffic_resumes_at_its_weight_and_analyses_again() -> None:
    found = adopted("v2", {"v1": 90, "v2": 10})
    state = found.state
    assert state is not None
    assert (state.phase, state.stable_version, state.canary_version) == (
        Phase.PROGRESSING,
        "v1",
        "v2",
    )
    assert state.canary_weight == 10
    assert state.step_index == 1  # after "setWeight: 10": its analysis runs again
    assert state.analysis == {} and state.step_started_at == NOW
    assert found.weights == SetWeights("v1", "v2", 10)


def test_the_canary_is_the_version_at_a_planned_weight_even_when_it_carries_more() -> None:
    steps = [{"setWeight": 60}, {"analyze": {"duration": "30s"}}]
    found = adopted("v2", {"v1": 40, "v2": 60}, steps=steps)
    assert found.state is not None
    assert (found.state.stable_version, found.state.canary_version) == ("v1", "v2")
    assert found.weights == SetWeights("v1", "v2", 60)


def test_a_spec_gone_back_to_stable_mid_rollout_finds_the_other_version_the_canary() -> None:
    found = adopted("v1", {"v1": 90, "v2": 10})  # v1 at 90 is no planned canary weight
    assert found.state is not None
    assert (found.state.stable_version, found.state.canary_version) == ("v1", "v2")


@pytest.mark.parametrize("split", [{"v1": 50, "v2": 50}, {"v1": 60, "v2": 40}])
def test_when_no_planned_weight_tells_the_canary_nothing_is_adopted(split: dict[str, int]) -> None:
    found = adopted("v2", split)
    assert found.state is None and found.weights is None
    assert "cannot tell which version is stable" in found.message


def test_routes_that_disagree_resume_the_canary_at_its_lowest_weight() -> None:
    found = adopted("v2", {"v1": 80, "v2": 20}, {"v1": 90, "v2": 10})
    assert found.weights == SetWeights("v1", "v2", 10)


def test_onadopt_revert_sends_a_found_canary_back_to_stable() -> None:
    found = adopted("v2", {"v1": 90, "v2": 10}, onAdopt="revert")
    assert found.state is not None
    assert (found.state.phase, found.state.stable_version) == (Phase.SUCCEEDED, "v1")
    assert found.state.canary_version is None
    assert found.weights == SetWeights("v1", None, 0)


def test_a_superseded_canary_under_way_is_found_but_never_made_stable() -> None:
    found = adopted("v3", {"v1": 90, "v2": 10})
    assert found.state is not None
    assert (found.state.stable_version, found.state.canary_version) == ("v1", "v2")


def test_a_record_the_routes_agree_with_resumes_at_its_step() -> None:
    text = record(canary="v2", weight=50, step=3, revision="v2@hash-2", specHash="hash-2")
    found = adopted("v2", {"v1": 50, "v2": 50}, records=(text,))
    assert found.state is not None
    assert (found.state.step_index, found.state.canary_weight) == (3, 50)
    assert found.state.revision == "v2@hash-2"


def test_a_record_with_a_failed_revision_keeps_it_from_being_retried() -> None:
    failed = FailedRevision(
        version="v2", spec_hash="hash-2", reason="rolled back: 5% errors", at=1.0
    )
    text = route_record.encode(RouteRecord(rollout="shop/checkout", stable="v1", failed=failed))
    found = adopted("v2", {"v1": 100}, records=(text,))
    assert found.state is not None
    assert found.state.phase is Phase.ROLLED_BACK
    assert found.state.failed is not None
    assert (found.state.failed.version, found.state.failed.spec_hash) == ("v2", "hash-2")


def test_a_record_the_routes_contradict_is_ignored() -> None:
    # a record claiming v2 is stable, beside routes that send 90% to v1
    text = record(stable="v2")
    found = adopted("v2", {"v1": 90, "v2": 10}, records=(text,))
    assert found.state is not None
    assert (found.state.stable_version, found.state.canary_weight) == ("v1", 10)


def test_a_record_of_another_rollout_or_garbage_is_ignored() -> None:
    other = route_record.encode(RouteRecord(rollout="shop/payments", stable="v2"))
    found = adopted("v2", {"v1": 100}, records=(other, "{not json", "x" * 10_000))
    assert found.state is not None and found.state.stable_version == "v1"


def test_a_record_never_gives_a_canary_more_than_the_routes_do() -> None:
    text = record(canary="v2", weight=100, step=4)
    found = adopted("v2", {"v1": 90, "v2": 10}, records=(text,))
    assert found.weights == SetWeights("v1", "v2", 10)
    assert found.state is not None and found.state.step_index == 1  # from the weight


def test_a_route_naming_no_subset_adopts_the_spec_version_as_before() -> None:
    found = adopted("v1", {"": 100})
    assert found.state is not None and found.state.stable_version == "v1"


@pytest.mark.parametrize(
    ("splits", "why"),
    [
        ((), "waiting to read the live routes"),
        (({"v1": 0},), "no managed route carries any traffic"),
        (({"": 50, "v1": 50},), "name no version"),
    ],
)
def test_nothing_is_adopted_when_the_routes_cannot_say(
    splits: tuple[Mapping[str, int], ...], why: str
) -> None:
    found = adopted("v2", *splits)
    assert found.state is None and found.weights is None
    assert why in found.message


def test_subsets_map_back_to_versions_through_the_template() -> None:
    found = adopted(
        "v2", {"checkout-v1": 90, "checkout-v2": 10}, workload={"subset": "checkout-{version}"}
    )
    assert found.state is not None
    assert (found.state.stable_version, found.state.canary_version) == ("v1", "v2")


def test_resume_step_is_after_the_last_weight_at_or_below_the_live_one() -> None:
    rollout = make_rollout("v2")  # steps: 10, analyze, 50, pause, 100
    assert [resume_step(rollout, w) for w in (5, 10, 30, 50, 99)] == [0, 1, 1, 3, 3]


def test_a_rollout_that_cannot_be_adopted_is_paused_with_a_condition_until_it_can() -> None:
    walker = Walker()
    walker.push("v2")
    walker.live = LiveRoutes(({"v1": 50, "v2": 50},))
    first = walker.tick()
    assert first.weights is None  # no traffic moves
    assert walker.state.phase is Phase.PAUSED and walker.state.stable_version is None
    adopted_condition = walker.state.condition("Adopted")
    assert adopted_condition is not None and adopted_condition.status == "False"
    assert [e.reason for e in first.effects if isinstance(e, RecordEvent)] == ["NotAdopted"]
    assert not [e for e in walker.tick().effects if isinstance(e, RecordEvent)]  # once

    walker.live = LiveRoutes(({"v1": 100},))  # a person sent everything to v1
    walker.tick()
    assert walker.state.stable_version == "v1" and walker.state.condition("Adopted") is None


def test_a_spec_deleted_before_adoption_reverts_nothing() -> None:
    walker = Walker()
    walker.live = LiveRoutes(({"v1": 50, "v2": 50},))
    walker.push("v2")
    walker.tick()
    decision = walker.tick(deleted=True)
    assert decision.weights is None and walker.state.phase is Phase.SUCCEEDED
