"""The coordinator with managed versions: Deployments made, sized to the traffic, retired.

Inputs: a managed rollout of checkout (4 stable replicas, a canary of at least 1, the old
stable kept 30 s), the coordinator over in-memory ports, and an in-memory ``Workloads``
at the port whose Deployments become ready only when the test says so. Outputs under
test: the canary's Deployment is made before it is judged ready; a raise waits until the
canary has the ready replicas the new weight needs (and it is scaled up ahead of it); the
promoted version gets the stable's replicas and the old stable is scaled to zero only
after its keep window; a rolled-back canary is scaled to zero at once. With an autoscaler
(an HPA the in-memory port keeps the target of, checked after every write): its target
moves to the promoted version before the old stable is scaled to zero, with the replicas
it gave the old one, and the replicas it sets are never overwritten. An abort inside the
keep window waits until the old stable has its replicas ready again, then puts all traffic
back on it; after the window it is ignored.
"""

from __future__ import annotations

from typing import Any

from rollout.analysis.verdicts import Outcome, Verdict
from rollout.errors import Conflict
from rollout.ports import Desired
from rollout.reconcile import Reconciled, Reconciler
from rollout.spec.rollout import Rollout
from rollout.state import Command, Phase
from rollout.version_ports import Replicas
from tests.memory_ports import FAIL, memory_world
from tests.rollouts import make_rollout

PROMOTABLE = Verdict(Outcome.PASS, (), canary_requests=500, promotable=True, within_slo=True)
MANAGED = {
    "managed": {
        "template": "checkout-template",
        "image": "shop/checkout:{version}",
        "replicas": 4,
        "keepStable": "30s",
    }
}


class MemoryWorkloads:
    """Deployments by name: replicas asked for and ready; ``ready_up_to`` caps readiness."""

    def __init__(self) -> None:
        self.deployments: dict[str, Replicas] = {"checkout-v1": Replicas(4, 4)}
        self.ready_up_to = 100
        self.made: list[str] = []
        self.scales: list[tuple[str, int]] = []
        self.hpa_target: str | None = None
        self.hpa_broken: list[str] = []  # what a write left the HPA pointing at, when wrong

    def ensure(self, rollout: Rollout, version: str, *, owner_uid: str, replicas: int) -> None:
        name = rollout.deployment_for(version)
        if name not in self.deployments:
            self.made.append(name)
            self.deployments[name] = Replicas(replicas, min(replicas, self.ready_up_to))

    def replicas(self, namespace: str, deployment: str) -> Replicas | None:
        return self.deployments.get(deployment)

    def scale(self, namespace: str, deployment: str, replicas: int) -> None:
        if deployment in self.deployments and self.deployments[deployment].wanted != replicas:
            self.scales.append((deployment, replicas))
            self.deployments[deployment] = Replicas(replicas, min(replicas, self.ready_up_to))
        self._check_hpa()

    def autoscaler_target(self, namespace: str, autoscaler: str) -> str | None:
        return self.hpa_target

    def retarget(self, namespace: str, autoscaler: str, *, current: str, deployment: str) -> None:
        assert current == self.hpa_target
        self.hpa_target = deployment
        self._check_hpa()

    def _check_hpa(self) -> None:
        if self.hpa_target is None:
            return
        found = self.deployments.get(self.hpa_target)
        if found is None or found.wanted == 0:
            self.hpa_broken.append(f"{self.hpa_target}: {found}")

    def make_ready(self) -> None:
        self.ready_up_to = 100
        self.deployments = {n: Replicas(r.wanted, r.wanted) for n, r in self.deployments.items()}


def world() -> tuple[dict[str, Any], MemoryWorkloads]:
    made = memory_world()
    workloads = MemoryWorkloads()
    made["ports"].workloads = workloads
    return made, workloads


def tick(
    reconciler: Reconciler, version: str, count: int = 1, workload: dict[str, Any] = MANAGED
) -> Reconciled:
    outcome = None
    for _ in range(count):
        rollout = make_rollout(version, workload=workload)
        outcome = reconciler.reconcile(Desired(rollout, commit="c0ffee"))
    assert outcome is not None
    return outcome


def wanted(workloads: MemoryWorkloads, version: str) -> int:
    return workloads.deployments[f"checkout-{version}"].wanted


def test_a_managed_version_is_made_sized_promoted_and_the_old_stable_retired() -> None:
    made, workloads = world()
    made["ports"].analyzer.verdict = PROMOTABLE
    reconciler: Reconciler = made["reconciler"]
    tick(reconciler, "v1")
    workloads.ready_up_to = 1  # the canary's pods come up one at a time
    first = tick(reconciler, "v2")
    assert workloads.made == ["checkout-v2"]
    assert first.state.canary_weight == 10  # 10% of 4 replicas needs 1, which is ready
    held = tick(reconciler, "v2", 4)  # past the 30 s analysis: 50% needs 2 replicas
    assert held.state.canary_weight == 10
    assert "scaling the canary up for 50%: 1/2 replicas of checkout-v2 ready" in held.state.message
    assert wanted(workloads, "v2") == 2  # scaled up ahead of the raise, never shrunk since
    workloads.make_ready()
    assert tick(reconciler, "v2").state.canary_weight == 50
    promoted = tick(reconciler, "v2", 4)
    assert (promoted.state.phase, promoted.state.stable_version) == (Phase.SUCCEEDED, "v2")
    assert wanted(workloads, "v2") == 4
    assert wanted(workloads, "v1") == 4  # kept for the keep window (30 s)
    tick(reconciler, "v2", 4)  # 40 s later
    assert wanted(workloads, "v1") == 0
    assert ("checkout-v1", 0) in workloads.scales
    assert all(name != "checkout-v1" or n == 0 for name, n in workloads.scales)


def test_a_rolled_back_canary_is_scaled_to_zero_at_once() -> None:
    made, workloads = world()
    ports = made["ports"]
    reconciler: Reconciler = made["reconciler"]
    tick(reconciler, "v1")
    assert tick(reconciler, "v3").state.canary_weight == 10
    ports.analyzer.verdict = FAIL
    rolled_back = tick(reconciler, "v3")
    assert rolled_back.state.phase is Phase.ROLLED_BACK
    assert wanted(workloads, "v3") == 0
    assert wanted(workloads, "v1") == 4


def test_without_a_workloads_port_a_managed_canary_waits_and_says_why() -> None:
    made = memory_world()
    reconciler: Reconciler = made["reconciler"]
    tick(reconciler, "v1")
    waiting = tick(reconciler, "v2", 2)
    assert waiting.state.phase is Phase.WAITING
    assert made["ports"].router.split == {"v1": 100}
    failed = tick(reconciler, "v2", 60)  # 10 minutes later: the progress deadline
    assert failed.state.phase is Phase.FAILED
    assert "this controller makes no Deployments" in failed.state.message


AUTOSCALED = {"managed": {**MANAGED["managed"], "autoscaler": "checkout"}}


def test_an_autoscaler_follows_the_stable_and_its_replicas_are_never_overwritten() -> None:
    made, workloads = world()
    made["ports"].analyzer.verdict = PROMOTABLE
    reconciler: Reconciler = made["reconciler"]
    workloads.hpa_target = "checkout-v1"
    workloads.deployments["checkout-v1"] = Replicas(6, 6)  # the HPA's, not the spec's 4
    tick(reconciler, "v1", workload=AUTOSCALED)
    assert wanted(workloads, "v1") == 6
    tick(reconciler, "v2", workload=AUTOSCALED)
    assert wanted(workloads, "v2") == 1  # 10% of the HPA's 6
    tick(reconciler, "v2", 5, workload=AUTOSCALED)
    assert wanted(workloads, "v2") == 3  # 50% of 6, scaled up ahead of the raise
    promoted = tick(reconciler, "v2", 5, workload=AUTOSCALED)
    assert (promoted.state.phase, promoted.state.stable_version) == (Phase.SUCCEEDED, "v2")
    assert workloads.hpa_target == "checkout-v2"
    assert wanted(workloads, "v2") == 6  # what the HPA gave v1, before it was handed over
    workloads.deployments["checkout-v2"] = Replicas(5, 5)  # the HPA scales v2 down
    tick(reconciler, "v2", 4, workload=AUTOSCALED)  # past the keep window
    assert (wanted(workloads, "v1"), wanted(workloads, "v2")) == (0, 5)
    assert workloads.hpa_broken == []


def test_an_autoscaler_that_cannot_be_moved_keeps_its_target_from_being_scaled_to_zero() -> None:
    made, workloads = world()
    made["ports"].analyzer.verdict = PROMOTABLE
    reconciler: Reconciler = made["reconciler"]
    workloads.hpa_target = "checkout-v1"

    def refuse(namespace: str, autoscaler: str, *, current: str, deployment: str) -> None:
        raise Conflict("the HPA changed meanwhile")

    workloads.retarget = refuse  # type: ignore[method-assign]
    tick(reconciler, "v1", workload=AUTOSCALED)
    promoted = tick(reconciler, "v2", 20, workload=AUTOSCALED)  # promoted, window long past
    assert promoted.state.stable_version == "v2"
    assert workloads.hpa_target == "checkout-v1"
    assert wanted(workloads, "v1") == 4
    assert workloads.hpa_broken == []


def abort(made: dict[str, Any], by: str = "alice") -> None:
    made["ports"].store.command = Command(id=f"abort-{by}", action="abort", by=by)


def until_promoted(reconciler: Reconciler) -> Reconciled:
    """Tick v2 until the tick that promotes it (10 s a tick)."""
    for _ in range(30):
        outcome = tick(reconciler, "v2")
        if outcome.state.stable_version == "v2":
            return outcome
    raise AssertionError("v2 was never promoted")


def test_an_abort_inside_the_keep_window_restores_the_old_stable_before_traffic_moves() -> None:
    made, workloads = world()
    made["ports"].analyzer.verdict = PROMOTABLE
    reconciler: Reconciler = made["reconciler"]
    tick(reconciler, "v1")
    promoted = until_promoted(reconciler)
    workloads.deployments["checkout-v1"] = Replicas(1, 1)  # lost replicas meanwhile
    workloads.ready_up_to = 1
    abort(made)
    held = tick(reconciler, "v2")  # 10 s into the 30 s window
    assert "abort by alice: scaling checkout-v1 back up before traffic moves to it: 1/4 ready" in (
        held.state.message
    )
    assert made["ports"].router.split == {"v2": 100}  # traffic waits for v1's replicas
    assert wanted(workloads, "v1") == 4
    assert held.state.commands == promoted.state.commands  # the command waits, unrecorded
    workloads.make_ready()
    restored = tick(reconciler, "v2")
    assert made["ports"].router.split == {"v1": 100}
    assert (restored.state.phase, restored.state.stable_version) == (Phase.ROLLED_BACK, "v1")
    assert restored.state.failed is not None and restored.state.failed.version == "v2"
    assert restored.state.commands[-1].result == "aborted: traffic back on v1"
    assert (wanted(workloads, "v1"), wanted(workloads, "v2")) == (4, 0)
    later = tick(reconciler, "v2", 3)  # the spec still says v2: not rolled out again
    assert (later.state.stable_version, made["ports"].router.split) == ("v1", {"v1": 100})


def test_an_abort_after_the_keep_window_is_ignored() -> None:
    made, workloads = world()
    made["ports"].analyzer.verdict = PROMOTABLE
    reconciler: Reconciler = made["reconciler"]
    tick(reconciler, "v1")
    until_promoted(reconciler)
    tick(reconciler, "v2", 4)  # 40 s: past the 30 s window, v1 at 0
    abort(made)
    after = tick(reconciler, "v2")
    assert after.state.stable_version == "v2" and made["ports"].router.split == {"v2": 100}
    assert after.state.commands[-1].result == "ignored: no rollout under way"
    assert wanted(workloads, "v1") == 0
