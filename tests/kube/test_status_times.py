"""Condition times at the API's edge: written as RFC 3339 whole seconds (metav1.Time), read
back into the same record, and records written as Unix seconds still read."""

from __future__ import annotations

from rollout.kube.status_times import status_from_wire, status_to_wire
from rollout.state import READY, RolloutState


def test_condition_times_are_written_as_rfc3339_whole_seconds() -> None:
    state = RolloutState().with_condition(READY, "True", "Promoted", "v2 serves", 1796012857.92)
    written = status_to_wire(state.to_status())["conditions"][0]
    assert written["lastTransitionTime"] == "2026-11-30T04:27:37Z"


def test_a_record_written_and_read_back_equals_the_one_in_memory() -> None:
    state = RolloutState().with_condition(READY, "False", "Progressing", "10%", 1796012857.92)
    read = RolloutState.from_status(status_from_wire(status_to_wire(state.to_status())))
    assert read == state


def test_older_records_in_unix_seconds_and_statuses_without_conditions_still_read() -> None:
    old = {
        "conditions": [{"type": READY, "status": "True", "reason": "r", "lastTransitionTime": 5.5}]
    }
    condition = RolloutState.from_status(status_from_wire(old)).condition(READY)
    assert condition is not None and condition.last_transition_time == 5.5
    assert status_from_wire(None) is None
    assert status_from_wire({"phase": "Succeeded"}) == {"phase": "Succeeded"}
