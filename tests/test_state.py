"""The status record as Kubernetes tools read it: conditions carry RFC 3339 transition times
(metav1.Time), older records written as Unix seconds still read, and a record read back
equals the one kept in memory, so an unchanged status is never rewritten."""

from __future__ import annotations

from rollout.state import READY, RolloutState


def test_condition_times_are_written_as_rfc3339_whole_seconds() -> None:
    state = RolloutState().with_condition(READY, "True", "Promoted", "v2 serves", 1796012857.92)
    written = state.to_status()["conditions"][0]
    assert written["lastTransitionTime"] == "2026-11-30T04:27:37Z"


def test_a_record_read_back_equals_the_one_in_memory() -> None:
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


def test_older_records_in_unix_seconds_still_read() -> None:
    old = {
        "conditions": [{"type": READY, "status": "True", "reason": "r", "lastTransitionTime": 5.5}]
    }
    condition = RolloutState.from_status(old).condition(READY)
    assert condition is not None and condition.last_transition_time == 5.5
