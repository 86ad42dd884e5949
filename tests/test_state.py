"""The status record's conditions: the transition time moves only when the status changes,
and is kept in whole seconds, as the API carries it, so a record read back equals the one
kept in memory and an unchanged status is never rewritten."""

from __future__ import annotations

from rollout.state import READY, RolloutState


def test_a_record_round_trips_through_its_status() -> None:
    state = RolloutState().with_condition(READY, "False", "Progressing", "10%", 1796012857.92)
    assert RolloutState.from_status(state.to_status()) == state


def test_the_transition_time_moves_only_when_the_status_changes() -> None:
    first = RolloutState().with_condition(READY, "False", "Progressing", "10%", 1000.4)
    same = first.with_condition(READY, "False", "Progressing", "30%", 2000.0)
    flipped = same.with_condition(READY, "True", "Promoted", "v2", 3000.7)
    times = []
    for state in (first, same, flipped):
        condition = state.condition(READY)
        assert condition is not None
        times.append(condition.last_transition_time)
    assert times == [1000.0, 1000.0, 3000.0]
