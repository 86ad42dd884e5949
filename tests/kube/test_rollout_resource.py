"""The Rollout resource as data: a resource without status is shown as Pending.

Inputs: Rollout objects as the API returns them, with and without a status. Outputs: the
phase shown to people and counted by the phase metric.
"""

from __future__ import annotations

from rollout.kube.rollout_resource import PENDING_PHASE, SHOWN_PHASES, stored_from_object
from rollout.server.metrics import ControllerMetrics
from rollout.state import Phase, RolloutState

BODY = {
    "metadata": {"name": "checkout", "namespace": "shop", "generation": 1},
    "spec": {"version": "v2"},
}


def test_a_rollout_without_status_is_pending_not_succeeded() -> None:
    stored = stored_from_object(BODY)
    assert not stored.observed
    assert stored.shown_phase == PENDING_PHASE == "Pending"


def test_a_rollout_with_status_shows_its_phase() -> None:
    status = RolloutState(phase=Phase.SUCCEEDED, stable_version="v1").to_status()
    stored = stored_from_object({**BODY, "status": status})
    assert stored.observed
    assert stored.shown_phase == "Succeeded"


def test_the_phase_metric_counts_unseen_rollouts_as_pending() -> None:
    metrics = ControllerMetrics(known_phases=SHOWN_PHASES)
    stored = stored_from_object(BODY)
    metrics.set_rollout_phases([(stored.namespace, stored.name, stored.shown_phase)])
    sample = metrics.registry.get_sample_value
    assert sample("rollout_rollouts", {"phase": "Pending"}) == 1
    assert sample("rollout_rollouts", {"phase": "Succeeded"}) == 0
