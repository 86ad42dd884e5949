"""A Rollout deleted mid-rollout and mirrored again from Git never promotes by accident.

Git still holds the spec when the Rollout resource is deleted at the canary's first step
(as Argo CD's prune-and-recreate or ``kubectl replace --force`` do), so the controller
mirrors it again with no status. The recreated Rollout must adopt from the cluster: v1,
which holds the traffic, stays stable; v2 resumes at its weight and is analysed again.
The VirtualService is watched throughout: a bad v2 never gets more than the first step's
weight and is rolled back; a healthy v2 reaches 100% only after a promotable verdict.
Real parts: the local API server, the real Prometheus, a real Git repository.
"""

from __future__ import annotations

import time

import kubernetes
import pytest

from rollout import route_record
from rollout.controller import Controller
from tests.e2e.world import (
    NAMESPACE,
    SpecRepo,
    TrafficSimulator,
    VersionBehaviour,
    WeightWatch,
    phase_of,
    push_hook,
    read_rollout,
    read_virtual_service,
    rollout_status,
    route_weights,
    wait_for,
)
from tests.kube_clients import custom_objects

pytestmark = pytest.mark.slow
FIRST_STEP = 20
RECORD_KEY = route_record.annotation_key(NAMESPACE, "checkout")


def delete_rollout(api: kubernetes.client.ApiClient) -> None:
    custom_objects(api).delete_namespaced_custom_object(
        "canary.rollout.dev", "v1alpha1", NAMESPACE, "rollouts", "checkout"
    )


def rollout_exists(api: kubernetes.client.ApiClient) -> bool:
    try:
        read_rollout(api)
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def event_reasons(api: kubernetes.client.ApiClient) -> list[str]:
    events = kubernetes.client.CoreV1Api(api).list_namespaced_event(NAMESPACE).items
    return [str(e.reason) for e in events if e.involved_object.name == "checkout"]


def delete_at_first_step(
    controller: Controller,
    app: kubernetes.client.ApiClient,
    spec_repo: SpecRepo,
    hold: str,
    on_adopt: str | None = None,
) -> float:
    """Roll out v2, delete its Rollout as soon as v2 has the first step's weight, and let
    the controller mirror it again from Git; returns when the deletion happened."""
    wait_for(lambda: phase_of(app)[:2] == ("Succeeded", "v1"), timeout=30, what="v1 adopted")
    commit = spec_repo.push("v2", hold=hold, on_adopt=on_adopt)
    assert push_hook(controller, commit) in (200, 202)
    wait_for(
        lambda: route_weights(read_virtual_service(app)).get("v2") == FIRST_STEP,
        timeout=60,
        every=0.05,
        what="v2 at the first step",
    )
    wait_for(  # traffic moves first, then the state is saved
        lambda: (
            phase_of(app) == ("Progressing", "v1", "v2")
            and rollout_status(app).get("canaryWeight") == FIRST_STEP
        ),
        timeout=10,
        every=0.05,
        what="the state at the first step saved",
    )
    annotations = read_virtual_service(app)["metadata"]["annotations"]
    assert '"canary":"v2"' in annotations[RECORD_KEY]  # the record went with the weights
    deleted_at = time.time()
    delete_rollout(app)
    wait_for(lambda: not rollout_status(app), timeout=10, what="the Rollout gone")

    def mirrored_again() -> bool:
        # the next sync mirrors the spec again; one that comes before the controller has
        # seen the deletion finds nothing to do, as a poll would, so push until it is back
        if rollout_exists(app):
            return True
        push_hook(controller, commit)
        return False

    wait_for(mirrored_again, timeout=30, every=1.0, what="the Rollout mirrored again")
    wait_for(lambda: phase_of(app)[1] == "v1", timeout=30, what="the recreated Rollout adopted")
    if on_adopt != "revert":
        assert phase_of(app) == ("Progressing", "v1", "v2")
        assert "Adopted" in event_reasons(app)
    return deleted_at


def test_a_bad_canary_whose_rollout_is_deleted_never_passes_its_step_and_is_rolled_back(
    controller: Controller,
    app: kubernetes.client.ApiClient,
    traffic: TrafficSimulator,
    spec_repo: SpecRepo,
) -> None:
    watch = WeightWatch(app).start()
    try:
        # healthy until the deletion, so no rollback can come before it
        delete_at_first_step(controller, app, spec_repo, hold="30s")
        traffic.behaviour["v2"] = VersionBehaviour(error_rate=0.05)
        wait_for(lambda: phase_of(app)[0] == "RolledBack", timeout=90, what="v2 rolled back")
        status = read_rollout(app)["status"]
        assert status["failed"]["version"] == "v2"
        assert status["lastVerdict"]["outcome"] == "fail"
        assert route_weights(read_virtual_service(app)) == {"v1": 100}
    finally:
        watch.stop()
    assert watch.seen, "the watch saw the VirtualService"
    assert max(seen.get("v2", 0) for seen in watch.seen) == FIRST_STEP
    assert traffic.invalid_weights == []


def test_a_healthy_canary_whose_rollout_is_deleted_is_promoted_only_on_a_promotable_verdict(
    controller: Controller,
    app: kubernetes.client.ApiClient,
    traffic: TrafficSimulator,
    spec_repo: SpecRepo,
) -> None:
    watch = WeightWatch(app).start()
    try:
        deleted_at = delete_at_first_step(controller, app, spec_repo, hold="8s")
        resumed_from = len(watch.seen)
        wait_for(lambda: phase_of(app)[:2] == ("Succeeded", "v2"), timeout=120, what="promoted")
    finally:
        watch.stop()
    verdict = read_rollout(app)["status"]["lastVerdict"]
    assert verdict["promotable"] is True and verdict["outcome"] == "pass"
    assert verdict["at"] > deleted_at  # judged by the recreated Rollout
    assert verdict["canaryRequests"] >= 100  # the spec's minSampleSize
    after = [seen.get("v2", 0) for seen in watch.seen[resumed_from:]]
    # resumed at its step: walked 50% again before the verdict gave it everything
    assert 50 in after and after.index(50) < after.index(100)
    assert route_weights(read_virtual_service(app)) == {"v2": 100}


def test_with_onadopt_revert_a_deleted_rollouts_canary_goes_back_to_stable_and_starts_over(
    controller: Controller,
    app: kubernetes.client.ApiClient,
    traffic: TrafficSimulator,
    spec_repo: SpecRepo,
) -> None:
    watch = WeightWatch(app).start()
    try:
        delete_at_first_step(controller, app, spec_repo, hold="30s", on_adopt="revert")
        traffic.behaviour["v2"] = VersionBehaviour(error_rate=0.05)
        wait_for(lambda: phase_of(app)[0] == "RolledBack", timeout=90, what="v2 rolled back")
    finally:
        watch.stop()
    assert "AdoptedReverted" in event_reasons(app)
    v2_weights = [seen.get("v2", 0) for seen in watch.seen]
    walk = [w for i, w in enumerate(v2_weights) if i == 0 or v2_weights[i - 1] != w]
    # the first step, back to v1 on adoption, the first step again, the rollback
    assert walk == [0, FIRST_STEP, 0, FIRST_STEP, 0]
    assert route_weights(read_virtual_service(app)) == {"v1": 100}
